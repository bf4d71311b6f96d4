import { writeFile } from "node:fs/promises";
import type { Browser, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { launchChromium, noBrowser } from "./browser";
import { type RunningServer, startServer } from "./server";

/**
 * /playground and /docs in headless Chromium against `npm start`, offline: every request that does
 * not go to the local server is refused (and recorded), so a page that needed a CDN would fail here.
 * SCREENSHOT=1 also writes test/e2e/playground.png (the README's picture) after the demo batch.
 */

const PORT = 8816;
const ADMIN_KEY = "fanout-local-admin-key";

let server: RunningServer;
let browser: Browser;

beforeAll(async () => {
  if (noBrowser) return;
  server = await startServer(PORT);
  browser = await launchChromium();
});
afterAll(async () => {
  await browser?.close();
  await server?.stop();
});

interface Opened {
  page: Page;
  /** Requests refused because they left the local server. */
  outside: string[];
  /** Uncaught errors and console errors (a CSP violation is one). */
  errors: string[];
}

/** `before` runs before the page loads (to add routes of its own, which win over the offline rule). */
async function open(path: string, before?: (page: Page) => Promise<unknown>): Promise<Opened> {
  const page = await browser.newPage({ viewport: { width: 1280, height: 720 } });
  const outside: string[] = [];
  const errors: string[] = [];
  await page.route("**/*", (route) => {
    const url = new URL(route.request().url());
    if (url.hostname === "localhost" && url.port === String(PORT)) return route.continue();
    outside.push(url.href);
    return route.abort("internetdisconnected");
  });
  page.on("pageerror", (error) => errors.push(error.message));
  page.on("console", (message) => {
    if (message.type() === "error") errors.push(message.text());
  });
  await before?.(page);
  await page.goto(`${server.origin}${path}`);
  return { page, outside, errors };
}

interface DrawnBar {
  id: string;
  outcome: string;
  x: number;
  width: number;
  startMs: number;
  endMs: number;
  critical: boolean;
}

function bars(page: Page): Promise<DrawnBar[]> {
  return page.$$eval("svg#waterfall rect.bar", (rects) =>
    rects.map((rect) => ({
      id: rect.getAttribute("data-id") ?? "",
      outcome: rect.getAttribute("data-outcome") ?? "",
      x: Number(rect.getAttribute("x")),
      width: Number(rect.getAttribute("width")),
      startMs: Number(rect.getAttribute("data-start")),
      endMs: Number(rect.getAttribute("data-end")),
      critical: rect.classList.contains("critical"),
    })),
  );
}

async function runBatch(page: Page, batch?: unknown): Promise<void> {
  if (batch !== undefined) await page.fill("#batch", JSON.stringify(batch));
  await page.click("#run");
}

/** Runs one of the page's examples to its end. */
async function runExample(page: Page, name: string): Promise<void> {
  await page.selectOption("#example", name);
  await runBatch(page);
  await page.waitForSelector("#status[data-state=done]", { timeout: 20_000 });
}

/** The axis labels as drawn. */
const tickLabels = (page: Page) => page.$$eval("svg#waterfall text.tick", (texts) => texts.map((text) => text.textContent ?? ""));

/** How much of the last run is left on screen: bars, labelled rows, "pending…" rows, payload entries, a composite's document. */
const leftOnScreen = (page: Page) =>
  page.evaluate(() => ({
    bars: document.querySelectorAll("svg#waterfall rect.bar").length,
    rows: document.querySelectorAll("svg#waterfall text.label").length,
    pending: document.querySelectorAll("svg#waterfall text[data-pending]").length,
    payload: document.querySelectorAll("#steps details").length,
    document: !(document.getElementById("document") as HTMLElement).hidden,
  }));

/** A step's entry in the payload panel: whether it is open, and its text. */
const entry = (page: Page, id: string) =>
  page.$eval(`#steps details[data-step="${id}"]`, (details) => ({
    open: (details as HTMLDetailsElement).open,
    text: details.textContent ?? "",
  }));

describe.skipIf(noBrowser)("the playground under npm start, offline", { tags: ["browser"] }, () => {
  it("runs the demo batch: one bar per step, a dependent step's bar starts after its dependency's ends", async () => {
    const { page, outside, errors } = await open("/playground");
    const steps = JSON.parse(await page.inputValue("#batch")).steps as { id: string }[];
    expect(steps.map((step) => step.id)).toEqual(["a", "b", "flags", "user", "orders"]);
    // Before a run the axis spans 1 ms in 0.2 ms ticks: rounded labels (0.2 * 3 is 0.6000000000000001).
    const rounded = /^\d+(\.\d{1,3})? ms$/;
    expect(await tickLabels(page)).toEqual(["0 ms", "0.2 ms", "0.4 ms", "0.6 ms", "0.8 ms", "1 ms"]);
    await runBatch(page);
    await page.waitForSelector("#status[data-state=done]", { timeout: 20_000 });
    const drawn = await bars(page);
    expect(drawn.map((bar) => bar.id).sort()).toEqual(steps.map((step) => step.id).sort());
    expect(drawn.every((bar) => bar.outcome === "ok")).toBe(true);
    const user = drawn.find((bar) => bar.id === "user")!;
    const orders = drawn.find((bar) => bar.id === "orders")!;
    // orders reads {{user.body[0].id}}: it starts after user ends, on the time axis and on screen.
    expect(orders.startMs).toBeGreaterThanOrEqual(user.endMs);
    expect(orders.x).toBeGreaterThanOrEqual(user.x + user.width - 0.5);
    expect(await page.$$eval('path.arrow[data-from="user"][data-to="orders"]', (paths) => paths.length)).toBe(1);
    // The critical path ends at the bar that ends last.
    const last = drawn.reduce((a, b) => (b.endMs > a.endMs ? b : a));
    expect(last.critical).toBe(true);
    // Hovering a bar shows its status and attempts.
    expect(await page.$eval('rect.bar[data-id="orders"] title', (title) => title.textContent)).toMatch(/orders: ok[\s\S]*attempts 1/);
    // The batch is kept in the URL fragment.
    expect(decodeURIComponent(new URL(page.url()).hash)).toContain('"id":"orders"');
    const labels = await tickLabels(page);
    expect(labels.length).toBeGreaterThan(2);
    for (const label of labels) expect(label).toMatch(rounded);
    // Every step listed under the chart, in batch order; a click on a bar opens its body.
    expect(await page.$$eval("#steps details", (list) => list.map((details) => details.getAttribute("data-step")))).toEqual(
      steps.map((step) => step.id),
    );
    await page.click('rect.bar[data-id="orders"]');
    expect(await entry(page, "orders")).toMatchObject({ open: true, text: expect.stringContaining('"total_cents"') });
    expect(outside).toEqual([]);
    expect(errors).toEqual([]);
    if (process.env.SCREENSHOT) await writeFile(new URL("playground.png", import.meta.url), await page.screenshot({ fullPage: true }));
    await page.close();
  });

  it("draws a streamed result before the batch finishes", async () => {
    const { page, outside, errors } = await open("/playground");
    await runBatch(page, {
      steps: [
        { id: "slow", wait: { ms: 3000 } },
        { id: "fast", wait: { ms: 10 } },
        { id: "next", dependsOn: ["fast"], http: { url: "/v1/sim/delay/20" } },
      ],
    });
    await page.waitForSelector('rect.bar[data-id="next"]', { timeout: 10_000 });
    // fast and next are drawn while slow is still pending: the batch has not finished.
    expect((await bars(page)).map((bar) => bar.id).sort()).toEqual(["fast", "next"]);
    expect(await page.$$eval('text[data-pending="slow"]', (texts) => texts.length)).toBe(1);
    expect(await page.getAttribute("#status", "data-state")).toBe("running");
    await page.waitForSelector("#status[data-state=done]", { timeout: 10_000 });
    expect((await bars(page)).map((bar) => bar.id).sort()).toEqual(["fast", "next", "slow"]);
    expect(outside).toEqual([]);
    expect(errors).toEqual([]);
    await page.close();
  });

  it("marks retries, hedges, coalesced, failed, skipped and cancelled steps", async () => {
    const { page, errors } = await open("/playground");
    await runExample(page, "hedge");
    const byId = Object.fromEntries((await bars(page)).map((bar) => [bar.id, bar]));
    expect(byId.broken?.outcome).toBe("failed");
    expect(byId.afterBroken?.outcome).toBe("skipped");
    expect([byId.same1?.outcome, byId.same2?.outcome].sort()).toEqual(["coalesced", "ok"]);
    expect(await page.getAttribute('rect.bar[data-id="retried"]', "data-attempts")).toBe("3");
    expect(await page.$$eval("text.mark.retry", (marks) => marks.length)).toBe(1);
    expect(await page.$$eval("text.mark.hedge", (marks) => marks.length)).toBe(1);

    await runExample(page, "race");
    const race = await bars(page);
    expect(race.filter((bar) => bar.outcome === "cancelled").length).toBeGreaterThanOrEqual(2);
    expect(errors).toEqual([]);
    await page.close();
  });

  it("shows why a step failed or was skipped without hovering, and a step's body or error on a click", async () => {
    const { page, errors } = await open("/playground");
    await runExample(page, "hedge");
    // The failed step's error code and status beside its bar, as text on screen (not a hover title).
    const brokenNote = page.locator('text.note[data-step="broken"]');
    expect(await brokenNote.isVisible()).toBe(true);
    expect(await brokenNote.textContent()).toBe("http_status 500");
    // The skipped step: a marker at least 10 px wide, and why, beside it.
    const marker = await page.locator('g.skip-marker[data-step="afterBroken"]').boundingBox();
    expect(marker?.width).toBeGreaterThanOrEqual(10);
    const skippedNote = page.locator('text.note[data-step="afterBroken"]');
    expect(await skippedNote.isVisible()).toBe(true);
    expect(await skippedNote.textContent()).toMatch(/^skipped: dependency "broken"/);
    expect(await page.$$eval("text.note", (notes) => notes.map((note) => note.getAttribute("data-step")).sort())).toEqual([
      "afterBroken",
      "broken",
    ]);
    // A click on a bar: its body; on a row's label: that step's error (and the upstream's body).
    expect(await entry(page, "hedged")).toMatchObject({ open: false });
    await page.click('rect.bar[data-id="hedged"]');
    expect((await entry(page, "hedged")).text).toContain('"delayedMs": 400');
    await page.click('text.label[data-step="broken"]');
    const broken = await entry(page, "broken");
    expect(broken.open).toBe(true);
    expect(broken.text).toMatch(/error http_status: .*500/);
    expect(broken.text).toContain("status 500");
    expect(await page.$$eval("#steps details.selected", (list) => list.map((details) => details.getAttribute("data-step")))).toEqual([
      "broken",
    ]);
    expect(await page.$$eval("rect.row.selected", (rows) => rows.map((row) => row.getAttribute("data-step")))).toEqual(["broken"]);
    // A skipped step's entry says why without opening it.
    expect(await page.$eval('#steps details[data-step="afterBroken"] summary', (summary) => summary.textContent)).toMatch(
      /skipped dependency "broken" did not succeed/,
    );
    expect(errors).toEqual([]);
    await page.close();
  });

  it("a 400 or a batch that is not JSON clears the previous run: no bars, no pending rows, no payload", async () => {
    const { page, errors } = await open("/playground");
    // The batch is sent with the API key field's key, whatever the admin key field holds.
    await page.fill("#admin-key", "");
    await runBatch(page);
    await page.waitForSelector("#status[data-state=done]", { timeout: 20_000 });
    expect(await leftOnScreen(page)).toEqual({ bars: 5, rows: 5, pending: 0, payload: 5, document: false });

    await runBatch(page, { steps: [{ id: "nothing" }, { id: "second", wait: { ms: 1 } }] });
    await page.waitForSelector("#status[data-state=error]", { timeout: 20_000 });
    expect(await page.textContent("#status")).toMatch(/^400 /);
    expect(await leftOnScreen(page)).toEqual({ bars: 0, rows: 0, pending: 0, payload: 0, document: false });

    await runBatch(page, { steps: [{ id: "w", wait: { ms: 1 } }] });
    await page.waitForSelector("#status[data-state=done]", { timeout: 20_000 });
    expect((await leftOnScreen(page)).bars).toBe(1);
    await page.fill("#batch", '{"steps": [');
    await page.click("#run");
    expect(await page.textContent("#status")).toMatch(/^The batch is not JSON/);
    expect(await leftOnScreen(page)).toEqual({ bars: 0, rows: 0, pending: 0, payload: 0, document: false });
    // The 400 itself, as the browser logs it.
    expect(errors).toEqual(["Failed to load resource: the server responded with a status of 400 (Bad Request)"]);
    await page.close();
  });

  it("runs a composite with the admin key field's key: its steps from ?debug=1, its document and headers as a client gets them", async () => {
    const { page, outside, errors } = await open("/playground#composite=%2Fv1%2Fc%2Fhome%3Fuser%3D1");
    expect(await page.inputValue("#composite")).toBe("/v1/c/home?user=1");
    // Two key fields: the batch's API key and the admin's; a composite uses the admin's.
    expect(await page.textContent('label[for="key"]')).toMatch(/^API key/);
    expect(await page.textContent('label[for="admin-key"]')).toMatch(/^Admin key/);
    expect(await page.inputValue("#admin-key")).toBe(ADMIN_KEY);
    await page.fill("#key", "not-a-key");
    // home's cache varies on Accept-Language, and the local cache outlives the server: a fresh one, a fresh entry.
    await page.setExtraHTTPHeaders({ "accept-language": `e2e-${Date.now()}` });
    const header = (name: string) => page.textContent(`#document tr[data-header="${name}"] td`);

    await page.click("#run-composite");
    await page.waitForSelector("#status[data-state=done]", { timeout: 20_000 });
    expect((await bars(page)).map((bar) => bar.id).sort()).toEqual(["flags", "orders", "recommendations", "user"]);
    expect(await page.isVisible("#document")).toBe(true);
    expect(await page.textContent("#document h3")).toMatch(/^GET \/v1\/c\/home\?user=1 \u2192 200/);
    const shaped = JSON.parse((await page.textContent("#document-body")) ?? "") as Record<string, unknown>;
    expect(shaped).toMatchObject({ user: { id: 1 }, orderIds: expect.any(Array) });
    expect(await header("cache-status")).toMatch(/fwd=uri-miss; stored/);
    expect(await header("fanout-incomplete")).toBe("(not sent)");
    // Each step's body is listed too.
    await page.click('rect.bar[data-id="user"]');
    expect((await entry(page, "user")).text).toContain('"email"');
    // Run again: the document comes from the gateway's cache.
    await page.click("#run-composite");
    await page.waitForFunction(
      () => /hit/.test(document.querySelector('#document tr[data-header="cache-status"] td')?.textContent ?? ""),
      null,
      {
        timeout: 20_000,
      },
    );

    // A partial answer: the optional step it left out is named in fanout-incomplete.
    await page.fill("#composite", "/v1/c/welcome");
    await page.click("#run-composite");
    await page.waitForFunction(() => document.querySelector("#document h3")?.textContent?.startsWith("GET /v1/c/welcome"), null, {
      timeout: 20_000,
    });
    await page.waitForSelector("#status[data-state=done]", { timeout: 20_000 });
    expect(await header("fanout-incomplete")).toBe("promo");
    expect(await header("cache-control")).toBe("no-store");

    // The batch's key is not an admin key: ?debug=1 is refused, and nothing of the last run is left.
    await page.fill("#admin-key", "fanout-local-demo-key");
    await page.click("#run-composite");
    await page.waitForSelector("#status[data-state=error]", { timeout: 20_000 });
    expect(await page.textContent("#status")).toMatch(/^403 .*admin/);
    expect(await leftOnScreen(page)).toEqual({ bars: 0, rows: 0, pending: 0, payload: 0, document: false });
    expect(outside).toEqual([]);
    expect(errors).toEqual(["Failed to load resource: the server responded with a status of 403 (Forbidden)"]);
    await page.close();
  });
});

describe.skipIf(noBrowser)("/docs under npm start, offline", { tags: ["browser"] }, () => {
  it("lists POST /v1/batch from /openapi.json with nothing loaded from elsewhere", async () => {
    const { page, outside, errors } = await open("/docs");
    await page.waitForSelector("body[data-loaded=true]", { timeout: 20_000 });
    const operations = await page.$$eval("details.op > summary", (summaries) =>
      summaries.map((summary) => `${summary.querySelector(".method")?.textContent} ${summary.querySelector("code")?.textContent}`),
    );
    expect(operations).toContain("post /v1/batch");
    expect(operations).toContain("get /healthz");
    expect(await page.$$eval("#schemas details", (schemas) => schemas.length)).toBeGreaterThan(0);
    expect(outside).toEqual([]);
    expect(errors).toEqual([]);
    await page.close();
  });

  it("renders Markdown, resolves $ref parameters, and shows a composite's answer fields", async () => {
    const { page, errors } = await open("/docs");
    await page.waitForSelector("body[data-loaded=true]", { timeout: 20_000 });
    const batch = page
      .locator("details#batch_run, details.op")
      .filter({ has: page.locator("summary code", { hasText: /^\/v1\/batch$/ }) })
      .first();
    // POST /v1/batch's parameters are $refs to components.parameters: each row has its name.
    const rows = await batch.locator("table tr").evaluateAll((trs) =>
      trs.slice(1).map((tr) =>
        Array.from(tr.querySelectorAll("td"))
          .slice(0, 2)
          .map((td) => td.textContent),
      ),
    );
    expect(rows).toEqual([
      ["Idempotency-Key", "header"],
      ["Prefer", "header"],
      ["Accept", "header"],
    ]);
    // Backticks are code: Prefer's description starts with `respond-async`.
    expect(await batch.locator("table tr", { hasText: "Prefer" }).locator("td code").allTextContents()).toEqual([
      "Prefer",
      "respond-async",
    ]);
    expect(await page.$eval("#operations", (ops) => ops.textContent)).not.toContain("`");
    // A composite's 200 answer lists whatever fields its schema has (none yet: any fields).
    const doc = (await (await fetch(`${server.origin}/openapi.json`)).json()) as {
      paths: Record<
        string,
        { get?: { operationId?: string; responses: Record<string, { content?: Record<string, { schema: unknown }> }> } }
      >;
    };
    for (const [path, item] of Object.entries(doc.paths)) {
      if (!item.get?.operationId?.startsWith("composite_")) continue;
      const schema = item.get.responses["200"]?.content?.["application/json"]?.schema as { properties?: Record<string, unknown> };
      const answer = page
        .locator("details.op", { has: page.locator("summary code", { hasText: path }) })
        .locator('.response[data-status="200"]');
      const shown = await answer.locator(".fields > ul.schema > li > code").allTextContents();
      expect(shown, path).toEqual(Object.keys(schema.properties ?? {}));
      if (!schema.properties) expect(await answer.textContent()).toContain("object (any fields)");
    }
    expect(errors).toEqual([]);
    await page.close();
  });

  it("shows a composite's answer schema as a tree of its fields: $refs resolved, recursion and depth bounded, links kept safe", async () => {
    const { page, errors } = await open("/docs", (page) =>
      page.route("**/openapi.json", async (route) => {
        const doc = await (await route.fetch()).json();
        // What a composite's 200 schema derived from its output would look like, nested and recursive.
        doc.components.schemas.TestUser = {
          type: "object",
          required: ["id"],
          properties: {
            id: { type: "integer" },
            name: { type: "string", description: "The **display** name, see [users](/docs#tag-composites) or [x](javascript:alert)" },
            friend: { $ref: "#/components/schemas/TestUser" },
          },
        };
        doc.paths["/v1/c/home"].get.responses["200"].content["application/json"].schema = {
          type: "object",
          properties: {
            user: { $ref: "#/components/schemas/TestUser" },
            orders: {
              type: "array",
              items: { type: "object", properties: { totalCents: { type: "integer", description: "In `cents`" } } },
            },
            deep: {
              type: "object",
              properties: {
                a: {
                  type: "object",
                  properties: { b: { type: "object", properties: { c: { type: "object", properties: { d: { type: "string" } } } } } },
                },
              },
            },
          },
        };
        await route.fulfill({ json: doc });
      }),
    );
    await page.waitForSelector("body[data-loaded=true]", { timeout: 20_000 });
    const answer = page
      .locator("details.op", { has: page.locator("summary code", { hasText: "/v1/c/home" }) })
      .locator('.response[data-status="200"]');
    expect(await answer.locator(".fields > ul.schema > li > code").allTextContents()).toEqual(["user", "orders", "deep"]);
    const fields = await answer.locator("li > code").allTextContents();
    // user's fields from its $ref; friend (TestUser again) named, not expanded again; orders' items' fields.
    expect(fields).toEqual(expect.arrayContaining(["id", "name", "friend", "totalCents"]));
    expect(fields.filter((name) => name === "friend")).toHaveLength(1);
    // Four levels of fields at most.
    expect(fields).toEqual(expect.arrayContaining(["a", "b", "c"]));
    expect(fields).not.toContain("d");
    const name = answer.locator("li", { has: page.locator(":scope > code", { hasText: /^name$/ }) });
    expect(await name.locator("strong").textContent()).toBe("display");
    expect(await name.locator("a").evaluateAll((links) => links.map((link) => [link.textContent, link.getAttribute("href")]))).toEqual([
      ["users", "/docs#tag-composites"],
    ]);
    expect(
      await answer
        .locator("li", { has: page.locator(":scope > code", { hasText: /^totalCents$/ }) })
        .locator("span.md code")
        .textContent(),
    ).toBe("cents");
    expect(await page.$$eval('a[href^="javascript"]', (links) => links.length)).toBe(0);
    expect(errors).toEqual([]);
    await page.close();
  });
});
