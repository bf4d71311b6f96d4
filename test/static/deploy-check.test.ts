import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";

/**
 * `npm run deploy:check` as a team runs it before `npm run deploy`: the repository's wrangler.toml is not
 * deployable (each placeholder named), the filled-in fixture is, and each class of problem is reported on
 * its own line, naming what and where, on a small variant of the fixture. Warnings keep exit 0; a file it
 * cannot read is one line, never a stack trace.
 */

const ROOT = join(dirname(new URL(import.meta.url).pathname), "../..");
const FIXTURE = "test/fixtures/deploy";
const FIXTURE_TOML = readFileSync(join(ROOT, FIXTURE, "wrangler.toml"), "utf8");
const FIXTURE_ENV = readFileSync(join(ROOT, FIXTURE, "production.env"), "utf8");
const scratch = mkdtempSync(join(tmpdir(), "fanout-deploy-check-"));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

interface Run {
  status: number | null;
  /** stdout and stderr, line by line. */
  lines: string[];
  problems: string[];
  warnings: string[];
  summary: string | undefined;
  output: string;
}

function deployCheck(...args: string[]): Run {
  const run = spawnSync("npm", ["run", "--silent", "deploy:check", "--", ...args], { cwd: ROOT, encoding: "utf8", timeout: 60_000 });
  const lines = `${run.stdout}${run.stderr}`.split("\n").filter(Boolean);
  return {
    status: run.status,
    lines,
    problems: lines.filter((line) => line.startsWith("problem: ")),
    warnings: lines.filter((line) => line.startsWith("warning: ")),
    summary: lines.find((line) => line.startsWith("deploy:check: ")),
    output: `${run.stdout}${run.stderr}`,
  };
}

let files = 0;
/** Writes a file into the scratch folder and returns its path. */
function write(name: string, text: string): string {
  const path = join(scratch, `${files++}-${name}`);
  writeFileSync(path, text);
  return path;
}

/** The fixture's wrangler.toml with `edit` applied (each pair: text to find, its replacement). */
function toml(...edits: Array<[string | RegExp, string]>): string {
  let text = FIXTURE_TOML;
  for (const [find, replace] of edits) {
    const next = text.replace(find, replace);
    if (next === text) throw new Error(`the fixture has no ${String(find)}`);
    text = next;
  }
  return write("wrangler.toml", text);
}

/** The fixture's production.env with more lines (later lines win). */
const env = (...lines: string[]) => write("production.env", `${FIXTURE_ENV}\n${lines.join("\n")}\n`);

/** A [vars] line added to the fixture's wrangler.toml. */
const withVar = (line: string) => toml(["[vars]\n", `[vars]\n${line}\n`]);

function expectProblem(run: Run, ...parts: Array<string | RegExp>) {
  expect(run.status, run.output).toBe(1);
  const line = run.problems.find((problem) =>
    parts.every((part) => (typeof part === "string" ? problem.includes(part) : part.test(problem))),
  );
  expect(line, `a problem line with ${parts.join(" ... ")} in:\n${run.output}`).toBeDefined();
  expect(run.summary).toBe(
    `deploy:check: ${run.problems.length} problem${run.problems.length === 1 ? "" : "s"}, ${run.warnings.length} warning${run.warnings.length === 1 ? "" : "s"}`,
  );
  return line!;
}

const fixtureArgs = (config = `${FIXTURE}/wrangler.toml`, envFile = `${FIXTURE}/production.env`) => [
  "--config",
  config,
  "--env-file",
  envFile,
];

describe("npm run deploy:check on the repository and the fixture", () => {
  it("refuses the repository's wrangler.toml, naming each placeholder and the empty allow-list", () => {
    const run = deployCheck();
    expect(run.status, run.output).toBe(1);
    expect(run.problems).toContainEqual(
      expect.stringMatching(
        /^problem: wrangler\.toml \[\[kv_namespaces\]\] KV: id is the placeholder 0+; create it with `npx wrangler kv namespace create KV`/,
      ),
    );
    expect(run.problems).toContainEqual(
      expect.stringMatching(
        /^problem: wrangler\.toml \[\[d1_databases\]\] DB: database_id is the placeholder [0-]+; create it with `npx wrangler d1 create fanout`/,
      ),
    );
    expect(run.problems).toContainEqual(
      expect.stringMatching(/^problem: wrangler\.toml \[\[ratelimits\]\] RATE_LIMIT_KEYS: namespace_id "1001" is the repository's example/),
    );
    expect(run.problems).toContainEqual(
      expect.stringMatching(/^problem: wrangler\.toml \[\[ratelimits\]\] RATE_LIMIT_IPS: namespace_id "1002" is the repository's example/),
    );
    expect(run.problems).toContainEqual(expect.stringMatching(/^problem: wrangler\.toml \[vars\] UPSTREAM_ALLOWLIST: empty/));
    // Without an env file the secrets are a reminder, not a problem: they cannot be in wrangler.toml.
    expect(run.lines).toContain("required: API_KEYS is a secret the Worker needs; set with: npx wrangler secret put API_KEYS");
    expect(run.lines).toContain("required: WEBHOOK_SECRET is a secret the Worker needs; set with: npx wrangler secret put WEBHOOK_SECRET");
    expect(run.summary).toBe(`deploy:check: ${run.problems.length} problems, 0 warnings`);
    expect(run.lines.at(-1)).toBe(run.summary);
  });

  it("passes the filled-in fixture with its production.env (exit 0), and notes the demo composites it does not serve", () => {
    const run = deployCheck(...fixtureArgs());
    expect(run.status, run.output).toBe(0);
    expect(run.problems).toEqual([]);
    expect(run.lines).toContainEqual(
      expect.stringMatching(/^info: 3 demo composites \(home, welcome, product\) are not served: DEMO_ENABLED is off$/),
    );
    expect(run.lines.at(-1)).toBe("deploy:check: ready to deploy (0 warnings)");
  });

  it("passes the fixture without an env file, listing the secrets still to set (not counted as problems)", () => {
    const run = deployCheck("--config", `${FIXTURE}/wrangler.toml`);
    expect(run.status, run.output).toBe(0);
    expect(run.lines).toContainEqual(expect.stringMatching(/^required: API_KEYS .*npx wrangler secret put API_KEYS$/));
    expect(run.lines).toContainEqual(expect.stringMatching(/^required: WEBHOOK_SECRET .*npx wrangler secret put WEBHOOK_SECRET$/));
    expect(run.lines.at(-1)).toBe("deploy:check: ready to deploy (0 warnings)");
  });
});

describe("npm run deploy:check: one line per problem, naming what and where", () => {
  it("the demo switched on", () => {
    const envFile = env('DEMO_ENABLED="true"');
    const line = expectProblem(
      deployCheck(...fixtureArgs(undefined, envFile)),
      `${envFile} DEMO_ENABLED="true"`,
      "must be off in production",
    );
    expect(line).toContain("/v1/sim/*");
  });

  it("an empty allow-list", () => {
    const config = toml([/^UPSTREAM_ALLOWLIST = .*$/m, 'UPSTREAM_ALLOWLIST = ""']);
    expectProblem(deployCheck(...fixtureArgs(config)), `${config} [vars] UPSTREAM_ALLOWLIST: empty`);
  });

  it("allow-list rules naming loopback, private, link-local and metadata addresses and special names, each on its line", () => {
    const refused = {
      "http://localhost:8787": "loopback (localhost)",
      "127.0.0.2": "loopback (127.0.0.0/8)",
      "http://[::1]:8080": "loopback (::1)",
      "[::ffff:127.0.0.1]": "loopback (127.0.0.0/8)",
      "10.1.2.3": "(10.0.0.0/8)",
      "172.20.0.1": "(172.16.0.0/12)",
      "192.168.1.10": "(192.168.0.0/16)",
      "100.64.0.1": "(100.64.0.0/10",
      "[fd00::1]": "(fc00::/7)",
      "http://169.254.169.254": "169.254.169.254",
      "[fe80::1]": "(fe80::/10)",
      "metadata.google.internal": "the cloud metadata service",
      "api.corp.internal": ".internal",
      "*.svc.internal": ".internal",
      "printer.local": ".local",
      "app.localhost": "loopback (localhost)",
    };
    const allowed = ["api.example.com", "*.example.net", "8.8.8.8", "172.32.0.1", "[2606:4700::1111]"];
    const envFile = env(`UPSTREAM_ALLOWLIST="${[...Object.keys(refused), ...allowed].join(", ")}"`);
    const run = deployCheck(...fixtureArgs(undefined, envFile));
    for (const [rule, kind] of Object.entries(refused)) expectProblem(run, `${envFile} UPSTREAM_ALLOWLIST: rule "${rule}" names`, kind);
    expect(run.problems.filter((line) => line.includes("UPSTREAM_ALLOWLIST"))).toHaveLength(Object.keys(refused).length);
  });

  it("every var parseConfig refuses, each on its own line naming the var", () => {
    const envFile = env('LOG_LEVEL="loud"', 'MAX_STEPS="0"', "API_KEYS=web:short");
    const run = deployCheck(...fixtureArgs(undefined, envFile));
    expectProblem(run, `${envFile} LOG_LEVEL: `);
    expectProblem(run, `${envFile} MAX_STEPS: `);
    expectProblem(run, `${envFile} API_KEYS: each API key must be written id:key`);
    // A secret's value never appears, even where the parse error would quote it.
    const secret = deployCheck(...fixtureArgs(undefined, env("UPSTREAM_CREDENTIALS=upstream-token-not-json")));
    expectProblem(secret, `UPSTREAM_CREDENTIALS: is not valid`);
    expect(secret.output).not.toContain("token-not");
  });

  it("CORS_ORIGINS * with CORS_CREDENTIALS true, both named on one line", () => {
    const envFile = env('CORS_ORIGINS="*"', 'CORS_CREDENTIALS="true"');
    expectProblem(
      deployCheck(...fixtureArgs(undefined, envFile)),
      `${envFile} CORS_ORIGINS="*" with ${envFile} CORS_CREDENTIALS="true"`,
      "list the exact origins",
    );
  });

  it("the repository's example rate-limit namespace ids, naming each binding", () => {
    const config = toml(['namespace_id = "41001"', 'namespace_id = "1001"'], ['namespace_id = "41002"', 'namespace_id = "1002"']);
    const run = deployCheck(...fixtureArgs(config));
    expectProblem(run, `${config} [[ratelimits]] RATE_LIMIT_KEYS: namespace_id "1001" is the repository's example`);
    expectProblem(run, `${config} [[ratelimits]] RATE_LIMIT_IPS: namespace_id "1002" is the repository's example`);
  });

  it("placeholder KV and D1 ids in a filled-in config", () => {
    const config = toml(
      [/^id = ".*"$/m, `id = "${"0".repeat(32)}"`],
      [/^database_id = ".*"$/m, 'database_id = "00000000-0000-0000-0000-000000000000"'],
    );
    const run = deployCheck(...fixtureArgs(config));
    expectProblem(run, `${config} [[kv_namespaces]] KV: id is the placeholder`);
    expectProblem(run, `${config} [[d1_databases]] DB: database_id is the placeholder`);
  });

  it("a secret written in wrangler.toml [vars], with or without an env file", () => {
    const config = withVar('WEBHOOK_SECRET = "whsec_c2VjcmV0LWluLXRoZS1jb25maWc="');
    for (const run of [deployCheck(...fixtureArgs(config)), deployCheck("--config", config)]) {
      const line = expectProblem(run, `${config} [vars] WEBHOOK_SECRET: a secret in [vars] is stored and shown in plain text`);
      expect(line).toContain("npx wrangler secret put WEBHOOK_SECRET");
      expect(line).not.toContain("c2VjcmV0");
    }
  });

  it("a secret missing from the env file", () => {
    const envFile = write("production.env", FIXTURE_ENV.replace(/^WEBHOOK_SECRET=.*$/m, ""));
    expectProblem(
      deployCheck(...fixtureArgs(undefined, envFile)),
      `${envFile} WEBHOOK_SECRET: missing`,
      "npx wrangler secret put WEBHOOK_SECRET",
    );
  });

  it("ADMIN_KEY_IDS naming an id that is not in API_KEYS", () => {
    const envFile = env('ADMIN_KEY_IDS="ops, root"');
    const run = deployCheck(...fixtureArgs(undefined, envFile));
    expectProblem(run, `${envFile} ADMIN_KEY_IDS: "root" is not an id in API_KEYS`);
    expect(run.problems.filter((line) => line.includes("ADMIN_KEY_IDS"))).toHaveLength(1);
  });

  it("SUBREQUEST_BUDGET (its default, or a set value) over [limits] subrequests, saying which limit wins", () => {
    const config = toml(["[observability]", "[limits]\nsubrequests = 50\n\n[observability]"]);
    const line = expectProblem(
      deployCheck(...fixtureArgs(config)),
      "SUBREQUEST_BUDGET=9990 + 10",
      `over the platform limit of 50 (${config} [limits] subrequests)`,
    );
    expect(line).toContain("the platform's limit wins");
    expect(line).toContain("at most 40");
    expectProblem(deployCheck(...fixtureArgs(config, env('SUBREQUEST_BUDGET="41"'))), "SUBREQUEST_BUDGET=41 + 10");
    expect(deployCheck(...fixtureArgs(config, env('SUBREQUEST_BUDGET="40"'))).status).toBe(0);
    expectProblem(
      deployCheck(...fixtureArgs(undefined, env('SUBREQUEST_BUDGET="9991"'))),
      "over the platform limit of 10000 (Workers Paid's default",
    );
  });

  it("a RATE_LIMIT_*_RULE that differs from its binding", () => {
    const envFile = env('RATE_LIMIT_IPS_RULE="60/60"');
    expectProblem(
      deployCheck(...fixtureArgs(undefined, envFile)),
      `${envFile} RATE_LIMIT_IPS_RULE="60/60" differs from`,
      "RATE_LIMIT_IPS simple = { limit = 120, period = 60 }",
    );
  });

  it("composites that cannot work with this configuration, and the demo composites it skips", () => {
    const composites = write(
      "composites.json",
      JSON.stringify({
        composites: {
          profile: {
            path: "profile",
            auth: "apiKey",
            params: { user: { type: "integer", required: true } },
            steps: [
              { id: "user", d1: { query: "userByEmail", params: ["{{params.user}}"] } },
              { id: "secret", kv: { key: "secrets:all" } },
              { id: "prefs", kv: { key: "prefs:{{params.user}}" } },
              { id: "flags", kv: { keys: ["flags:web", "flags:{{params.user}}"] } },
              { id: "avatar", r2: { key: "private/1.png", head: true } },
              { id: "photo", r2: { key: "avatars/{{params.user}}.png", head: true } },
              { id: "orders", http: { url: "https://orders.example.org/users/{{params.user}}" } },
              { id: "account", http: { url: "https://api.example.com/users/{{params.user}}" } },
              { id: "next", http: { url: "{{account.body.next}}" } },
            ],
          },
          tour: { demo: true, path: "tour", auth: "none", steps: [{ id: "a", http: { url: "/v1/sim/delay/1" } }] },
          leaky: { path: "leaky", auth: "none", steps: [{ id: "a", http: { url: "https://api.example.com/" } }] },
        },
      }),
    );
    const run = deployCheck(...fixtureArgs(), "--composites", composites);
    const at = (field: string) => `${composites} composites.profile.${field}: `;
    expectProblem(run, at("steps[0].d1.query"), 'no named query "userByEmail" (D1_QUERIES: userById, ordersByUser)');
    expectProblem(run, at("steps[1].kv.key"), 'KV key "secrets:all" is not under an allowed prefix (KV_PREFIXES)');
    expectProblem(run, at("steps[2].kv.key"), 'KV key "prefs:{{params.user}}" can never be under an allowed prefix');
    expectProblem(run, at("steps[4].r2.key"), 'R2 key "private/1.png" is not under an allowed prefix (R2_PREFIXES)');
    expectProblem(run, at("steps[6].http.url"), "https://orders.example.org is not on the upstream allow-list (UPSTREAM_ALLOWLIST)");
    expectProblem(run, `${composites} composites.leaky.steps[0].http.url: a public composite`, "(invalid composite)");
    expect(run.problems.filter((line) => line.includes("composites.profile"))).toHaveLength(5);
    expect(run.lines).toContain("info: 1 demo composite (tour) is not served: DEMO_ENABLED is off");
    expect(run.problems.some((line) => line.includes("composites.tour"))).toBe(false);
  });

  it("a binding a composite's steps need and the config does not declare", () => {
    const composites = write(
      "composites.json",
      JSON.stringify({
        composites: { avatar: { path: "avatar", auth: "apiKey", steps: [{ id: "head", r2: { key: "avatars/1.png", head: true } }] } },
      }),
    );
    const config = toml([/\[\[r2_buckets\]\]\nbinding = "BUCKET"\nbucket_name = "fanout-assets"\n/, ""]);
    expectProblem(
      deployCheck(...fixtureArgs(config), "--composites", composites),
      `${composites} composites.avatar: step head needs the BUCKET binding`,
    );
  });
});

describe("npm run deploy:check: the composites file as the Worker reads it (JSONC)", () => {
  it("reads comments; a file that does not parse is a problem at its line and column (exit 1), never a stack trace", () => {
    const commented = write(
      "composites.jsonc",
      '// reviewed\n{ "composites": { /* public */ "hello": { "path": "hello", "auth": "none", "steps": [{ "id": "g", "kv": { "key": "greeting" } }] } } }\n',
    );
    expect(deployCheck(...fixtureArgs(), "--composites", commented).status).toBe(0);
    const broken = "test/fixtures/composites/syntax-error.jsonc";
    const run = deployCheck(...fixtureArgs(), "--composites", broken);
    expectProblem(run, `${broken}:9:7: syntax error: expected a comma (,) (the composites file does not load)`);
    expect(run.output).not.toMatch(/\n\s+at /);
  });
});

describe("npm run deploy:check: warnings, files and arguments", () => {
  it("warns (exit 0) about an edge cache on *.workers.dev and the obsolete SIM_ENABLED", () => {
    const config = toml(["workers_dev = false", "workers_dev = true"], [/^routes = .*\n/m, ""]);
    const composites = write(
      "composites.json",
      JSON.stringify({
        composites: { hello: { path: "hello", auth: "none", steps: [{ id: "g", kv: { key: "greeting" } }], cache: { ttlSeconds: 60 } } },
      }),
    );
    const envFile = env('SIM_ENABLED="false"');
    const run = deployCheck(...fixtureArgs(config, envFile), "--composites", composites);
    expect(run.status, run.output).toBe(0);
    expect(run.problems).toEqual([]);
    expect(run.warnings).toContainEqual(
      expect.stringMatching(
        new RegExp(
          `^warning: ${config}: workers_dev = true and no routes: the Cache API does nothing on \\*\\.workers\\.dev, so hello will never be cached`,
        ),
      ),
    );
    expect(run.warnings).toContain(`warning: ${envFile} SIM_ENABLED: obsolete (replaced by DEMO_ENABLED); remove it`);
    expect(run.lines.at(-1)).toBe("deploy:check: ready to deploy (2 warnings)");
  });

  it("a malformed wrangler.toml is one line naming the file and line (exit 1), never a stack trace", () => {
    const config = write("wrangler.toml", 'name = "fanout"\n\n[vars]\nLOG_LEVEL = "info\nDEMO_ENABLED = "false"\n');
    const run = deployCheck("--config", config);
    expect(run.status).toBe(1);
    expect(run.lines).toHaveLength(1);
    expect(run.lines[0]).toMatch(new RegExp(`^${config}:4: .*\\(not valid TOML\\)$`));
  });

  it("a malformed env file is one line naming the file and line (exit 1)", () => {
    const envFile = write("production.env", 'API_KEYS="web:0123456789abcdef0123\n# fine\nnot a line\n');
    const run = deployCheck(...fixtureArgs(undefined, envFile));
    expect(run.status).toBe(1);
    expect(run.lines).toEqual([`${envFile}:1: API_KEYS: the value's " quote is never closed`]);
    const other = write("production.env", "# a comment\nAPI_KEYS=web:0123456789abcdef0123\nnot a line\n");
    expect(deployCheck(...fixtureArgs(undefined, other)).lines).toEqual([`${other}:3: expected KEY=value`]);
  });

  it("a missing file is one line (exit 1); an unknown argument one usage line (exit 2)", () => {
    const missing = join(scratch, "nope.toml");
    expect(deployCheck("--config", missing)).toMatchObject({ status: 1, lines: [`${missing}: no such file`] });
    const unknown = deployCheck("--envfile", "x.env");
    expect(unknown.status).toBe(2);
    expect(unknown.lines).toHaveLength(1);
    expect(unknown.lines[0]).toMatch(/^deploy:check: unknown argument "--envfile"; usage: npm run deploy:check -- /);
    expect(deployCheck("--env-file").status).toBe(2);
  });
});
