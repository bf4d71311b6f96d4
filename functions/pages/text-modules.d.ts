// The pages' HTML and CSS, and the composites file (.jsonc), are imported as text (wrangler.toml's [[rules]] Text; .html is Text by default).
declare module "*.html" {
  const text: string;
  export default text;
}
declare module "*.css" {
  const text: string;
  export default text;
}
declare module "*.jsonc" {
  const text: string;
  export default text;
}
