// Vite's `?raw` imports (a file's text as a string), which the Workers pool serves.
declare module "*?raw" {
  const text: string;
  export default text;
}

// Vite's import.meta.glob (files matched at build time; eager: their modules inline), which the Workers pool
// also serves: test/functions/readme-composites.test.ts reads every README's text so (`?raw`, `import: "default"`).
interface ImportMeta {
  glob<T = unknown>(patterns: string | string[], options: { query?: string; import?: string; eager: true }): Record<string, T>;
}
