import { createServer } from "node:http";

/**
 * The benchmarks' loopback upstream: keep-alive, `GET /delay?ms=N` answers JSON after N ms, and
 * `GET /bulk?ms=N&id=1&id=2` answers `[{ "id": "1" }, { "id": "2" }]` after N ms (one element per id). Tracks the
 * peak number of requests in flight (from arrival to the body's last byte): over the whole run
 * (`peak`) and since the last `resetPeak` (`peakSinceReset`), so a workload can check how many calls
 * one contender had open at once.
 *
 * Two ways to frame the answer, chosen per request with `framing`:
 * - `framing=chunked` (the default): `Transfer-Encoding: chunked`, no `Content-Length`, so a reader
 *   that must stop at a byte cap reads it chunk by chunk;
 * - `framing=length`: a `Content-Length`, so a capped reader can check it up front and read natively.
 *
 * `bodyMs=M` sends the headers after `ms` and the body M ms later (a slow body: the caller's `fetch`
 * resolves at once, its body read takes M ms); without it headers and body leave together.
 */
export const FRAMINGS = Object.freeze({ "content-length": "length", chunked: "chunked" });

export async function startUpstream() {
  let inFlight = 0;
  let peak = 0;
  let peakSinceReset = 0;
  const server = createServer((req, res) => {
    const url = new URL(req.url ?? "/", "http://upstream");
    if (url.pathname !== "/delay" && url.pathname !== "/bulk") {
      res.writeHead(404).end();
      return;
    }
    inFlight++;
    peak = Math.max(peak, inFlight);
    peakSinceReset = Math.max(peakSinceReset, inFlight);
    const ms = Number(url.searchParams.get("ms") ?? 0);
    const bodyMs = Number(url.searchParams.get("bodyMs") ?? 0);
    const length = url.searchParams.get("framing") === "length";
    const body =
      url.pathname === "/bulk"
        ? JSON.stringify(url.searchParams.getAll("id").map((id) => ({ id })))
        : JSON.stringify({ delayedMs: ms, ...(bodyMs > 0 ? { bodyMs } : {}) });
    const headers = { "content-type": "application/json", connection: "keep-alive" };
    if (length) headers["content-length"] = Buffer.byteLength(body);
    const finish = () => {
      inFlight--;
      res.end(body);
    };
    setTimeout(() => {
      // Without a Content-Length, Node frames the body with Transfer-Encoding: chunked.
      res.writeHead(200, headers);
      if (bodyMs > 0) {
        res.flushHeaders();
        setTimeout(finish, bodyMs);
      } else finish();
    }, ms);
  });
  server.keepAliveTimeout = 30_000;
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    origin: `http://127.0.0.1:${server.address().port}`,
    peak: () => peak,
    peakSinceReset: () => peakSinceReset,
    inFlight: () => inFlight,
    /** Starts a new per-workload peak from the requests in flight now (normally none). */
    resetPeak: () => {
      peakSinceReset = inFlight;
    },
    close: () => {
      server.closeAllConnections();
      return new Promise((resolve) => server.close(resolve));
    },
  };
}
