import { env } from "cloudflare:workers";
import { beforeEach, describe, expect, it } from "vitest";
import { withTimeout } from "../../../lib/async/timers";
import { fetchUpstream, readBodyLimited } from "../../../lib/base/http";
import { checkTarget, parseAllowList } from "../../../lib/base/policy";

const origin = `http://127.0.0.1:${env.UPSTREAM_PORT}`;
const allowList = parseAllowList(`${origin}, https://example.com`);

async function hits(path: string): Promise<number> {
  const res = await fetch(`${origin}/__hits?path=${encodeURIComponent(path)}`);
  return ((await res.json()) as { hits: number }).hits;
}

beforeEach(async () => {
  await fetch(`${origin}/__reset`);
});

describe("fetchUpstream", () => {
  it("fetches an allow-listed loopback upstream for real", async () => {
    const { response, redirects } = await fetchUpstream({ url: `${origin}/delay?ms=5` }, { allowList });
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ delayedMs: 5 });
    expect(redirects).toBe(0);
  });

  it("follows an allowed redirect and re-checks the hop", async () => {
    const to = `${origin}/echo`;
    const { response, url, redirects } = await fetchUpstream({ url: `${origin}/redirect?to=${encodeURIComponent(to)}` }, { allowList });
    expect(response.status).toBe(200);
    expect(url.href).toBe(to);
    expect(redirects).toBe(1);
  });

  it("refuses a redirect to a host that is not listed, without reaching it", async () => {
    const evil = `http://localhost:${env.UPSTREAM_PORT}/echo`;
    await expect(fetchUpstream({ url: `${origin}/redirect?to=${encodeURIComponent(evil)}` }, { allowList })).rejects.toMatchObject({
      code: "redirect_blocked",
    });
    expect(await hits("/echo")).toBe(0);
  });

  it("refuses a target that is not listed before any request is made", async () => {
    await expect(fetchUpstream({ url: `http://localhost:${env.UPSTREAM_PORT}/echo` }, { allowList })).rejects.toMatchObject({
      code: "forbidden_target",
    });
    expect(await hits("/echo")).toBe(0);
  });

  it("takes a URL as checked only when checkTarget passed that very object for the same list, unchanged since", async () => {
    const listed = checkTarget(`${origin}/echo`, allowList);
    // Any other URL object is checked: one never checked, one changed after its check, one checked against another list.
    const never = new URL(`http://localhost:${env.UPSTREAM_PORT}/echo`);
    const changed = checkTarget(`${origin}/echo`, allowList);
    changed.hostname = "localhost";
    const otherList = checkTarget(`http://localhost:${env.UPSTREAM_PORT}/echo`, parseAllowList(`http://localhost:${env.UPSTREAM_PORT}`));
    for (const url of [never, changed, otherList]) {
      await expect(fetchUpstream({ url }, { allowList })).rejects.toMatchObject({ code: "forbidden_target" });
    }
    expect(await hits("/echo")).toBe(0);
    const { response } = await fetchUpstream({ url: listed }, { allowList });
    expect(response.status).toBe(200);
    expect(await hits("/echo")).toBe(1);
  });

  it("stops after too many redirects", async () => {
    let url = `${origin}/echo`;
    for (let i = 0; i < 7; i++) url = `${origin}/redirect?to=${encodeURIComponent(url)}`;
    await expect(fetchUpstream({ url }, { allowList })).rejects.toMatchObject({
      code: "redirect_blocked",
      detail: "more than 5 redirects",
    });
  });

  it("drops credentials when a redirect changes origin and turns a 303 into a GET", async () => {
    const seen: Request[] = [];
    const fetcher = async (url: string, init: RequestInit) => {
      seen.push(new Request(url, init));
      if (seen.length === 1) return new Response(null, { status: 303, headers: { location: "https://example.com/next" } });
      return new Response("ok");
    };
    await fetchUpstream(
      {
        url: `${origin}/start`,
        method: "POST",
        headers: { authorization: "Bearer s3cret", cookie: "a=b", "x-keep": "1" },
        body: "payload",
      },
      { allowList, fetcher },
    );
    expect(seen[1]!.method).toBe("GET");
    expect(seen[1]!.headers.get("authorization")).toBeNull();
    expect(seen[1]!.headers.get("cookie")).toBeNull();
    expect(seen[1]!.headers.get("x-keep")).toBe("1");
  });

  it("reports a connection failure as network", async () => {
    const closed = parseAllowList("http://127.0.0.1:1");
    await expect(fetchUpstream({ url: "http://127.0.0.1:1/" }, { allowList: closed })).rejects.toMatchObject({ code: "network" });
  });

  it("gives up on a hanging upstream at its timeout", async () => {
    const started = Date.now();
    await expect(
      withTimeout((signal) => fetchUpstream({ url: `${origin}/hang` }, { allowList, signal }), { ms: 200 }),
    ).rejects.toMatchObject({
      code: "timeout",
    });
    expect(Date.now() - started).toBeLessThan(5000);
  });
});

describe("readBodyLimited", () => {
  it("reads a body under the limit", async () => {
    const { response } = await fetchUpstream({ url: `${origin}/bytes/1000` }, { allowList });
    expect((await readBodyLimited(response, { maxBytes: 1000 })).byteLength).toBe(1000);
  });

  it("refuses a declared length over the limit without reading it", async () => {
    const { response } = await fetchUpstream({ url: `${origin}/bytes/5000` }, { allowList });
    await expect(readBodyLimited(response, { maxBytes: 1000 })).rejects.toMatchObject({ code: "response_too_large" });
  });

  it("stops reading an undeclared body as soon as it passes the limit", async () => {
    const { response } = await fetchUpstream({ url: `${origin}/bytes/500000?declare=false` }, { allowList });
    expect(response.headers.get("content-length")).toBeNull();
    await expect(readBodyLimited(response, { maxBytes: 100_000 })).rejects.toMatchObject({ code: "response_too_large" });
  });
});
