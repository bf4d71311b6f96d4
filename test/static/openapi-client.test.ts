import { execFileSync } from "node:child_process";
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import openapiTS, { astToString } from "openapi-typescript";
import { describe, expect, it } from "vitest";

/**
 * Typed clients: types generated from the served /openapi.json with openapi-typescript (default
 * options: no flag is needed for the minimal batch), and a small openapi-fetch program running the
 * README's examples, type-checked with tsc; plus hono/client calls through AppType from the package
 * export `fanout/client`. All of it as a caller compiles it: a tsconfig with no Worker types (only the
 * DOM lib) and skipLibCheck off, so fanout/client's own declarations are checked too. `invalid.ts` holds
 * the same mistakes without @ts-expect-error: tsc must refuse each of them, so the directives in
 * client.ts cannot go stale silently.
 */

const root = new URL("../..", import.meta.url).pathname;
const dir = join(root, "node_modules/.cache/fanout-typed-client");

const CLIENT = `import createClient from "openapi-fetch";
import { hc } from "hono/client";
import type { AppType } from "fanout/client";
import type { components, paths } from "./schema";

type StepErrorCode = components["schemas"]["StepError"]["code"];
type BatchResponse = components["schemas"]["BatchResponse"];

// JSON answers only (the same operation also streams NDJSON and SSE when Accept asks for them).
const client = createClient<paths, "application/json">({ baseUrl: "http://127.0.0.1:8787", headers: { authorization: "Bearer demo-key" } });

export async function readmeExamples(): Promise<void> {
  // The minimal batch: only steps (mode, concurrency, deadlineMs and http.method have server defaults).
  const { data, error } = await client.POST("/v1/batch", {
    body: {
      steps: [
        { id: "user", http: { url: "/v1/sim/delay/100" } },
        { id: "posts", dependsOn: ["user"], http: { url: "/v1/sim/delay/{{user.body.delayedMs}}" } },
        { id: "flag", kv: { key: "flags:beta", type: "json" } },
        { id: "pause", wait: { ms: 10 } },
      ],
    },
  });
  void error;
  if (data && "completed" in data) {
    const completed: boolean = data.completed;
    const errorCode: StepErrorCode | undefined = data.results.user?.error?.code;
    void completed;
    void errorCode;
  }

  await client.POST("/v1/batch", {
    // @ts-expect-error a step has exactly one kind: an id alone is refused
    body: { steps: [{ id: "x" }] },
  });

  // An async batch (Prefer: respond-async), then its job: the result is the batch result, typed.
  const accepted = await client.POST("/v1/batch", {
    params: { header: { Prefer: "respond-async", "Idempotency-Key": "order-42" } },
    body: { steps: [{ id: "pause", wait: { ms: 10 } }] },
  });
  if (accepted.data && "statusUrl" in accepted.data) {
    const { data: job } = await client.GET("/v1/jobs/{id}", { params: { path: { id: accepted.data.id } } });
    const result: BatchResponse | undefined = job?.result;
    const okCount: number | undefined = job?.result?.counts.ok;
    void result;
    void okCount;
  }
}

export async function honoClient(): Promise<void> {
  const api = hc<AppType>("http://127.0.0.1:8787", { headers: { authorization: "Bearer demo-key" } });
  const res = await api.v1.batch.$post({ json: { steps: [{ id: "pause", wait: { ms: 10 } }] } });
  const body = await res.json();
  if ("completed" in body) {
    const completed: boolean = body.completed;
    void completed;
  }
  const job = await api.v1.jobs[":id"].$get({ param: { id: "00000000-0000-4000-8000-000000000000" } });
  if (job.status === 404) {
    const detail: string = (await job.json()).detail;
    void detail;
  }
  // Every keyed route: the audit (admin keys) and each composite, its document typed from its output.
  const audit = await api.v1.audit.$get({ query: { limit: 10 } });
  if (audit.status === 200) {
    const next: number | null = (await audit.json()).nextCursor;
    void next;
  }
  const home = await api.v1.c.home.$get({ query: { user: 1 } });
  if (home.status === 200) {
    const document = await home.json();
    const name: unknown = document.user?.name;
    const total: unknown = document.orders?.[0]?.totalCents;
    void name;
    void total;
  }
  const welcome = await api.v1.c.welcome.$get({ query: {} });
  void welcome;
}
`;

/** Each line must fail to type-check on its own line (the directives of client.ts, without them). */
const INVALID = `import createClient from "openapi-fetch";
import { hc } from "hono/client";
import type { AppType } from "fanout/client";
import type { components, paths } from "./schema";

const client = createClient<paths>({ baseUrl: "http://127.0.0.1:8787" });
const api = hc<AppType>("http://127.0.0.1:8787");
export const idOnly = client.POST("/v1/batch", { body: { steps: [{ id: "x" }] } });
export const badWait = client.POST("/v1/batch", { body: { steps: [{ id: "x", wait: { ms: "1" } }] } });
export const code: components["schemas"]["StepError"]["code"] = "not_a_code";
export const noSteps = client.POST("/v1/batch", { body: {} });
export const hcIdOnly = api.v1.batch.$post({ json: { steps: [{ id: "x" }] } });
export const undeclared = api.v1.c.home.$get({ query: { user: 1 } }).then(async (res) => res.status === 200 && (await res.json()).nope);
export const noUser = api.v1.c.home.$get({ query: {} });
export const noRoute = api.v1.nothing;
`;

function typecheck(): string {
  try {
    execFileSync(join(root, "node_modules/.bin/tsc"), ["-p", join(dir, "tsconfig.json")], { encoding: "utf8", cwd: root });
    return "";
  } catch (error) {
    return String((error as { stdout?: string }).stdout ?? error);
  }
}

describe("typed clients from /openapi.json", () => {
  it("openapi-typescript types + openapi-fetch and hc<AppType> compile the README's examples; mistakes do not", async () => {
    const document = JSON.parse(execFileSync("npm", ["run", "--silent", "openapi:doc"], { cwd: root, encoding: "utf8" }));
    // openapi-typescript's defaults, as a user runs it: fields with server defaults are still optional in requests.
    const schema = astToString(await openapiTS(document));
    rmSync(dir, { recursive: true, force: true });
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, "schema.d.ts"), schema);
    writeFileSync(join(dir, "client.ts"), CLIENT);
    writeFileSync(join(dir, "invalid.ts"), INVALID);
    writeFileSync(
      join(dir, "tsconfig.json"),
      JSON.stringify({
        // A caller's tsconfig: no Worker types, no worker-configuration.d.ts; fanout/client resolves through package.json exports.
        compilerOptions: {
          target: "ES2022",
          module: "ESNext",
          moduleResolution: "Bundler",
          lib: ["ES2022", "DOM"],
          types: [],
          strict: true,
          noUncheckedIndexedAccess: true,
          skipLibCheck: false,
          noEmit: true,
        },
        include: ["client.ts", "invalid.ts", "schema.d.ts"],
      }),
    );

    const output = typecheck();
    const errors = output.split("\n").filter((line) => /error TS\d+/.test(line));
    // client.ts compiles (and every @ts-expect-error in it is used); invalid.ts fails on each of its mistakes.
    expect(
      errors.filter((line) => !line.includes("invalid.ts")),
      output,
    ).toEqual([]);
    const failedLines = new Set(errors.map((line) => Number(/invalid\.ts\((\d+),/.exec(line)?.[1])));
    expect(
      [...failedLines].sort((a, b) => a - b),
      output,
    ).toEqual([8, 9, 10, 11, 12, 13, 14, 15]);
  }, 120_000);
});
