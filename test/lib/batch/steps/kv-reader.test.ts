import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { KvReader } from "../../../../lib/batch/steps/kv-reader";

describe("KvReader", () => {
  it("shares a key between reads in flight at the same time", async () => {
    await env.KV.put("test:a", "1");
    const reader = new KvReader(env.KV);
    const first = reader.read(["test:a"]);
    const second = reader.read(["test:a", "test:a"]);
    expect([first.coalesced, second.coalesced]).toEqual([false, true]);
    expect(await second.values).toEqual(["1", "1"]);
  });

  it("reads again once the earlier read settled (in flight only): a newer value is seen", async () => {
    await env.KV.put("test:b", "old");
    const reader = new KvReader(env.KV);
    expect(await reader.read(["test:b"]).values).toEqual(["old"]);
    await env.KV.put("test:b", "new");
    const again = reader.read(["test:b"]);
    expect(again.coalesced).toBe(false);
    expect(await again.values).toEqual(["new"]);
  });
});
