/**
 * Stands in for zod's locale index in the Worker bundle (`[alias]` in wrangler.toml): zod re-exports its
 * ~40 locales as a namespace (`export * as locales`), which esbuild cannot tree-shake, so every one of
 * them was bundled although fanout answers in English only. English stays: zod registers it by itself
 * (classic/schemas imports `locales/en` directly), and `z.locales.en` still works.
 */
export { default as en } from "zod/v4/locales/en.js";
