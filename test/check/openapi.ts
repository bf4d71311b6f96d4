import compositesText from "../../functions/composites.jsonc";
import { loadGateway } from "../../functions/index";

/**
 * `npm run openapi:doc`: prints the OpenAPI document exactly as GET /openapi.json serves it, built in Node
 * without a server (bundled with a stand-in for `cloudflare:workers`, which only the Durable Object uses).
 */

declare const process: { stdout: { write(text: string): void } };

// stdout carries the document only: the app's log lines go to stderr.
console.log = console.error;
const { app } = loadGateway(compositesText);
// With the demo surface on, so every operation is linted (production's document is the same less the demo ones).
const response = await app.request("/openapi.json", {}, { LOG_LEVEL: "error", DEMO_ENABLED: "true" });
if (response.status !== 200) throw new Error(`GET /openapi.json answered ${response.status}: ${await response.text()}`);
process.stdout.write(`${JSON.stringify(await response.json(), null, 2)}\n`);
