import { createServer } from "node:http";

/**
 * The benchmarks' loopback upstream: keep-alive, `GET /delay?ms=N` answers JSON after N ms. Tracks the
 * peak number of requests in flight: over the whole run (`peak`) and since the last `resetPeak`
 * (`peakSinceReset`), so a workload can check how many calls one contender had open at once.
 */
export async function startUpstream() {
  let inFlight = 0;
  let peak = 0;
  let peakSinceReset = 0;
  const server = createServer((req, res) => {
    const url = new URL(req.url ?? "/", "http://upstream");
    if (url.pathname !== "/delay") {
      res.writeHead(404).end();
      return;
    }
    inFlight++;
    peak = Math.max(peak, inFlight);
    peakSinceReset = Math.max(peakSinceReset, inFlight);
    const ms = Number(url.searchParams.get("ms") ?? 0);
    setTimeout(() => {
      inFlight--;
      res.writeHead(200, { "content-type": "application/json", connection: "keep-alive" });
      res.end(JSON.stringify({ delayedMs: ms }));
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
