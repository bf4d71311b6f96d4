// An ambient module (this file has no imports): the pool's internal module, used by test/fixtures/apply-migrations.ts.
declare module "cloudflare:test-internal" {
  /** Awaits every ctx.waitUntil() promise registered so far (and any they register), rethrowing their rejections. */
  export function waitForGlobalWaitUntil(): Promise<void>;
}
