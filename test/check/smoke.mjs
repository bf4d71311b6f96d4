#!/usr/bin/env node
// `npm run smoke -- https://<host> [--key K]`: after a deploy, calls the live gateway as a client would:
// GET /healthz, a one-step batch (POST /v1/batch, needs --key) and every composite the deployment serves
// (the operations tagged "composites" in its GET /openapi.json, required params filled from their schema).
// One line per check: name, HTTP status, time, and the problem's code and detail when it is not a 2xx.
// Exit 1 when any check failed, 2 on a usage error. Without --key the batch is skipped (not a failure) and
// composites that need a key are called without one: their 401 counts as a failure, so a run without
// --key passes only on a deployment whose composites are all public.

const USAGE = "usage: npm run smoke -- https://<host> [--key API_KEY] [--timeout MS]";
const TIMEOUT_MS = 15_000;

/** @returns {{ origin: string, key?: string, timeoutMs: number } | string} the options, or what is wrong with the arguments */
function parseArgs(args) {
  let target;
  let key;
  let timeoutMs = TIMEOUT_MS;
  for (let index = 0; index < args.length; index++) {
    const arg = args[index];
    const eq = arg.startsWith("--") ? arg.indexOf("=") : -1;
    const flag = eq > 0 ? arg.slice(0, eq) : arg;
    const value = () => (eq > 0 ? arg.slice(eq + 1) : args[++index]);
    if (flag === "--key") {
      key = value();
      if (!key) return "--key needs an API key";
    } else if (flag === "--timeout") {
      timeoutMs = Number(value());
      if (!Number.isInteger(timeoutMs) || timeoutMs < 1) return "--timeout needs a number of milliseconds";
    } else if (arg.startsWith("-")) {
      return `unknown argument ${JSON.stringify(arg)}`;
    } else if (target === undefined) {
      target = arg;
    } else {
      return `one host only (got ${JSON.stringify(target)} and ${JSON.stringify(arg)})`;
    }
  }
  if (target === undefined) return "name the deployment's URL";
  let url;
  try {
    url = new URL(target);
  } catch {
    return `${JSON.stringify(target)} is not a URL: write https://your-host`;
  }
  if (url.protocol !== "https:" && url.protocol !== "http:")
    return `${JSON.stringify(target)} is not an http(s) URL: write https://your-host`;
  return { origin: url.origin, key, timeoutMs };
}

/** Why a fetch failed, in a few words (Node's fetch hides the reason in `cause`). */
function networkReason(error) {
  if (error?.name === "TimeoutError" || error?.name === "AbortError") return "no answer in time";
  const cause = error?.cause;
  const code = cause?.code ?? cause?.errno;
  if (code === "ENOTFOUND" || code === "EAI_AGAIN") return `the host does not resolve (${code})`;
  if (code === "ECONNREFUSED") return "connection refused (ECONNREFUSED)";
  if (code) return `${cause.message ?? code}`.split("\n")[0];
  return `${cause?.message ?? error?.message ?? error}`.split("\n")[0];
}

/**
 * One HTTP call: its status, the time to the whole body, and the body (parsed when JSON).
 * Never throws: a network error is `{ error }`.
 */
async function call(url, { method = "GET", headers = {}, body, timeoutMs }) {
  const started = performance.now();
  try {
    const res = await fetch(url, { method, headers, body, redirect: "manual", signal: AbortSignal.timeout(timeoutMs) });
    const text = await res.text();
    const ms = Math.round(performance.now() - started);
    const type = res.headers.get("content-type") ?? "";
    let json;
    if (/[/+]json\b/.test(type)) {
      try {
        json = JSON.parse(text);
      } catch {
        // reported below as not JSON
      }
    }
    return { status: res.status, ms, type, text, json };
  } catch (error) {
    return { error: networkReason(error), ms: Math.round(performance.now() - started) };
  }
}

/** A problem body's code and detail, or what the answer was instead. */
function describeFailure(answer) {
  if (answer.json === undefined) return notJson(answer);
  const { code, detail, title } = typeof answer.json === "object" && answer.json !== null ? answer.json : {};
  if (code || detail || title) return [code, detail ?? title].filter(Boolean).join(": ");
  return `unexpected answer: ${answer.text.replace(/\s+/g, " ").trim().slice(0, 120)}`;
}

function notJson(answer) {
  const snippet = answer.text.replace(/\s+/g, " ").trim().slice(0, 80);
  return `not JSON (${answer.type || "no content-type"})${snippet ? `: ${snippet}` : ""}`;
}

/** A value for a required parameter: its default, first enum value or minimum, else 1 or "x". */
function sampleValue(schema = {}) {
  if (schema.default !== undefined) return String(schema.default);
  if (Array.isArray(schema.enum) && schema.enum.length > 0) return String(schema.enum[0]);
  if (schema.type === "integer" || schema.type === "number") return String(schema.minimum ?? 1);
  if (schema.type === "boolean") return "true";
  return "x";
}

/** Follows a local `$ref` ("#/components/parameters/x") in the document. */
function resolve(document, value) {
  let node = value;
  for (let depth = 0; node?.$ref && depth < 10; depth++) {
    if (!node.$ref.startsWith("#/")) return undefined;
    node = node.$ref
      .slice(2)
      .split("/")
      .reduce((at, part) => at?.[part.replaceAll("~1", "/").replaceAll("~0", "~")], document);
  }
  return node;
}

/** The composites in an OpenAPI document: name, the URL path to call (required params filled) and whether it needs a key. */
function compositesOf(document) {
  const found = [];
  for (const [path, item] of Object.entries(document?.paths ?? {})) {
    const operation = item?.get;
    if (!operation || !Array.isArray(operation.tags) || !operation.tags.includes("composites")) continue;
    const parameters = [...(item.parameters ?? []), ...(operation.parameters ?? [])].map((parameter) => resolve(document, parameter));
    let filled = path;
    const query = new URLSearchParams();
    for (const parameter of parameters) {
      if (!parameter?.name) continue;
      const schema = resolve(document, parameter.schema) ?? {};
      if (parameter.in === "path") filled = filled.replace(`{${parameter.name}}`, encodeURIComponent(sampleValue(schema)));
      else if (parameter.in === "query" && parameter.required) query.set(parameter.name, sampleValue(schema));
    }
    const security = operation.security ?? document.security ?? [];
    const name = String(operation.operationId ?? path).replace(/^composite_/, "");
    found.push({ name, path: query.size > 0 ? `${filled}?${query}` : filled, needsKey: security.length > 0 });
  }
  return found;
}

/** Runs every check, printing a line each; returns the exit code. */
async function smoke({ origin, key, timeoutMs }, print = console.log) {
  const auth = key ? { authorization: `Bearer ${key}` } : {};
  let failed = 0;
  let passed = 0;
  let skipped = 0;
  const line = (mark, name, status, ms, note = "") =>
    print(`${mark.padEnd(5)} ${name.padEnd(24)} ${String(status).padStart(3)} ${`${ms} ms`.padStart(8)}${note ? `  ${note}` : ""}`);
  const report = (name, answer, ok = (a) => a.status >= 200 && a.status < 300, note = "") => {
    if (answer.error) {
      failed++;
      print(`${"FAIL".padEnd(5)} ${name.padEnd(24)}   - ${`${answer.ms} ms`.padStart(8)}  network error: ${answer.error}`);
      return false;
    }
    const good = ok(answer);
    if (good) passed++;
    else failed++;
    line(good ? "ok" : "FAIL", name, answer.status, answer.ms, good ? note : describeFailure(answer) + (note ? ` (${note})` : ""));
    return good;
  };

  // 1. Liveness. A host that cannot be reached is one line: every other check would fail the same way.
  const health = await call(`${origin}/healthz`, { timeoutMs });
  if (health.error) {
    print(`FAIL  healthz: ${origin} cannot be reached: ${health.error}`);
    return 1;
  }
  const features = health.json?.features;
  const healthOk = (answer) => answer.status === 200 && answer.json?.status === "ok";
  report(
    "healthz",
    health,
    healthOk,
    features
      ? `version ${health.json.version}, demo ${features.demo ? "ON" : "off"}, batch ${features.batch ? "on" : "off (no API_KEYS)"}`
      : "",
  );

  // 2. A one-step batch.
  if (key) {
    const batch = await call(`${origin}/v1/batch`, {
      method: "POST",
      headers: { ...auth, "content-type": "application/json" },
      body: JSON.stringify({ steps: [{ id: "smoke", wait: { ms: 1 } }] }),
      timeoutMs,
    });
    const stepOk = (answer) => answer.status === 200 && answer.json?.results?.smoke?.ok === true;
    report("batch", batch, stepOk);
  } else {
    skipped++;
    print(`${"skip".padEnd(5)} ${"batch".padEnd(24)}   -        -  no --key: POST /v1/batch needs an API key`);
  }

  // 3. The composites the deployment serves, as its OpenAPI document lists them.
  const openapi = await call(`${origin}/openapi.json`, { timeoutMs });
  if (openapi.error || openapi.status !== 200 || typeof openapi.json !== "object" || openapi.json === null) {
    report("openapi.json", openapi, (answer) => answer.status === 200 && typeof answer.json === "object" && answer.json !== null);
  } else {
    const composites = compositesOf(openapi.json);
    if (composites.length === 0) print("info  the deployment serves no composites (none in /openapi.json)");
    for (const composite of composites) {
      const answer = await call(`${origin}${composite.path}`, { headers: composite.needsKey ? auth : {}, timeoutMs });
      const note = `GET ${composite.path}${composite.needsKey && !key ? " without a key; no --key given" : ""}`;
      report(`composite ${composite.name}`, answer, undefined, note);
    }
  }

  print(`smoke: ${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ""} (${origin})`);
  return failed > 0 ? 1 : 0;
}

async function main() {
  const options = parseArgs(process.argv.slice(2));
  if (typeof options === "string") {
    console.error(`smoke: ${options}; ${USAGE}`);
    return 2;
  }
  try {
    return await smoke(options);
  } catch (error) {
    console.log(`FAIL  smoke: ${error?.message ?? error}`.split("\n")[0]);
    return 1;
  }
}

process.exitCode = await main();
