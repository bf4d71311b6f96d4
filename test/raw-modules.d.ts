// Vite's `?raw` imports (a file's text as a string), which the Workers pool serves: test/functions/readme-composites.test.ts reads README.md so.
declare module "*?raw" {
  const text: string;
  export default text;
}
