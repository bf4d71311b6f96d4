import { beforeEach, describe, expect, it } from "vitest";
import { resetUpstream, runBatchJson, UNLISTED, UPSTREAM, upstreamHits } from "./batch-helpers";

beforeEach(async () => {
  await resetUpstream();
});

describe("SSRF: targets off the allow-list are refused and never reached", () => {
  it.each([
    "http://127.0.0.1/",
    "http://[::1]/",
    "http://2130706433/",
    "http://0x7f.0.0.1/",
    "http://169.254.169.254/latest/meta-data/",
    "http://localhost/",
    `http://user:pass@${UPSTREAM.slice(7)}/echo`,
    "http://127.0.0.1:8080/",
    `${UNLISTED}/echo`,
  ])("%s -> forbidden_target", async (url) => {
    const { json } = await runBatchJson({ steps: [{ id: "x", http: { url } }] });
    expect(json.results.x).toMatchObject({ ok: false, error: { code: "forbidden_target" } });
    expect(await upstreamHits("/echo")).toBe(0);
  });

  it("a redirect from a listed host to an unlisted one is blocked before it is followed", async () => {
    const to = `${UNLISTED}/echo`;
    const { json } = await runBatchJson({ steps: [{ id: "x", http: { url: `${UPSTREAM}/redirect?to=${encodeURIComponent(to)}` } }] });
    expect(json.results.x).toMatchObject({ ok: false, error: { code: "redirect_blocked" } });
    expect(await upstreamHits("/redirect")).toBe(1);
    expect(await upstreamHits("/echo")).toBe(0);
  });

  it("a redirect within the allow-list is followed, and per-origin credentials go only to their origin", async () => {
    const { json } = await runBatchJson({
      steps: [{ id: "x", http: { url: `${UPSTREAM}/redirect?to=${encodeURIComponent(`${UPSTREAM}/echo`)}` } }],
    });
    expect(json.results.x).toMatchObject({ ok: true, status: 200 });
    expect((json.results.x!.body as { headers: Record<string, string> }).headers["x-upstream-key"]).toBe("upstream-secret-value");
  });

  it("a redirect loop stops after 5 hops", async () => {
    let url = `${UPSTREAM}/echo`;
    for (let i = 0; i < 6; i++) url = `${UPSTREAM}/redirect?to=${encodeURIComponent(url)}`;
    const { json } = await runBatchJson({ steps: [{ id: "x", http: { url } }] });
    expect(json.results.x).toMatchObject({ ok: false, error: { code: "redirect_blocked", message: "more than 5 redirects" } });
  });

  it("never returns the upstream's Set-Cookie to the client", async () => {
    // The fixture route sends Set-Cookie, so this fails if the stripping goes.
    const { json } = await runBatchJson({ steps: [{ id: "x", http: { url: `${UPSTREAM}/cookie` } }] });
    expect(json.results.x).toMatchObject({ ok: true, headers: { "x-kept": "yes" } });
    expect(Object.keys(json.results.x!.headers!)).not.toContain("set-cookie");
  });

  it("cache steps obey the allow-list too", async () => {
    const { json } = await runBatchJson({ steps: [{ id: "c", cache: { url: "http://169.254.169.254/" } }] });
    expect(json.results.c).toMatchObject({ ok: false, error: { code: "forbidden_target" } });
  });
});
