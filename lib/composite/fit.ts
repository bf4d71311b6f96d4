import type { Config } from "../base/config";
import { FanoutError, type InvalidParam } from "../base/errors";
import { checkPrefix, checkTarget } from "../base/policy";
import type { CompositeDefinition } from "./definition";
import { planComposite } from "./serve";

/**
 * A valid composite against a deployment's configuration, offline (`npm run check`, `npm run
 * deploy:check`): what would make it answer 503 on every request (its batch does not plan: a D1 query
 * missing from D1_QUERIES or given the wrong number of parameters, a relative /v1/sim/ URL with the
 * demo off, a limit) or fail a step on every request (a KV or R2 key that can never be under
 * KV_PREFIXES / R2_PREFIXES, an upstream written out that is not on UPSTREAM_ALLOWLIST). Each problem
 * is named by the composite's field (`steps[0].d1.query`); an unknown D1 query name gets the nearest one.
 */

/** A KV or R2 key a step reads: literal keys must be under a prefix; a templated key's literal start must be able to be. */
function keyProblem(key: string, prefixes: readonly string[], what: string, setting: string): string | undefined {
  const at = key.indexOf("{{");
  if (at < 0) {
    try {
      checkPrefix(key, prefixes, what, setting);
      return undefined;
    } catch (error) {
      return (error as Error).message;
    }
  }
  const literal = key.slice(0, at);
  if (prefixes.some((prefix) => literal.startsWith(prefix) || prefix.startsWith(literal))) return undefined;
  return `${what} "${key}" can never be under an allowed prefix (${setting}: ${prefixes.length ? prefixes.join(", ") : "empty"})`;
}

/** An absolute URL a step fetches, when its origin is written out (not a {{reference}}): it must be on the allow-list. */
function urlProblem(url: string, config: Config): string | undefined {
  if (url.startsWith("/") || url.startsWith("{{")) return undefined;
  const at = url.indexOf("{{");
  if (at >= 0 && !/^[a-z][a-z0-9+.-]*:\/\/[^/?#]*[/?#]/i.test(url.slice(0, at))) return undefined; // the host is a reference
  try {
    checkTarget(url.replace(/\{\{[^}]*\}\}/g, "x"), config.UPSTREAM_ALLOWLIST);
    return undefined;
  } catch (error) {
    // checkTarget's message names UPSTREAM_ALLOWLIST itself.
    return error instanceof FanoutError ? error.detail : (error as Error).message;
  }
}

/** What planning the composite's batch against `config` refuses (the runtime's 503 `not_configured`); a problem named "" is the composite's own. */
function planProblems(composite: CompositeDefinition, config: Config): InvalidParam[] {
  try {
    planComposite(composite, config);
    return [];
  } catch (error) {
    const cause = error instanceof FanoutError && error.cause instanceof Error ? error.cause : (error as Error);
    const params = error instanceof FanoutError ? error.invalidParams : [];
    if (params.length === 0) return [{ name: "", reason: cause.message }];
    // The D1 step's own message lists the configured names and suggests the nearest.
    return params;
  }
}

/** Every way `composite` does not fit `config`, each named by field; empty when it fits. */
export function configProblems(composite: CompositeDefinition, config: Config): InvalidParam[] {
  const problems = planProblems(composite, config);
  composite.steps.forEach((step, index) => {
    const keys = step.kv
      ? step.kv.key === undefined
        ? (step.kv.keys ?? []).map((key, n) => [`keys[${n}]`, key] as const)
        : [["key", step.kv.key] as const]
      : [];
    for (const [field, key] of keys) {
      const problem = keyProblem(key, config.KV_PREFIXES, "KV key", "KV_PREFIXES");
      if (problem) problems.push({ name: `steps[${index}].kv.${field}`, reason: problem });
    }
    if (step.r2) {
      const problem = keyProblem(step.r2.key, config.R2_PREFIXES, "R2 key", "R2_PREFIXES");
      if (problem) problems.push({ name: `steps[${index}].r2.key`, reason: problem });
    }
    for (const kind of ["http", "cache"] as const) {
      const url = step[kind]?.url;
      const problem = url === undefined ? undefined : urlProblem(url, config);
      if (problem) problems.push({ name: `steps[${index}].${kind}.url`, reason: problem });
    }
  });
  return problems;
}
