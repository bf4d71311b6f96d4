// The reference for fanout's benchmarks: the same fetches with nothing around them, in the same
// workerd. POST /__reference/all runs them with a bare Promise.all (the floor for any orchestration
// on this runtime); POST /__reference/all?slots=6 runs the same Promise.all behind a six-slot
// limiter (what a hand-written Worker gets on the edge, where at most six of an invocation's
// connections may wait for their response headers at once, and the bench upstream sends its headers
// only after its delay; local workerd does not enforce that cap); POST /__reference/sequential
// awaits them one by one (sequential I/O).
// Body: { "urls": ["http://127.0.0.1:PORT/delay?ms=100", ...] }. Answers { statuses, bodies }.

/** A semaphore of `slots` slots: `run(fn)` waits for a free slot, in call order, and holds it until fn settles. */
function limiter(slots) {
  let active = 0;
  const waiting = [];
  return async (fn) => {
    if (active < slots) active++;
    else await new Promise((resolve) => waiting.push(resolve)); // the slot is handed over by the one that frees it
    try {
      return await fn();
    } finally {
      const next = waiting.shift();
      if (next) next();
      else active--;
    }
  };
}

export default {
  async fetch(request) {
    const { pathname, searchParams } = new URL(request.url);
    const { urls } = await request.json();
    const fetchOne = async (url) => {
      const response = await fetch(url);
      return { status: response.status, body: await response.json() };
    };
    let results;
    if (pathname.endsWith("/all")) {
      const slots = Number(searchParams.get("slots") ?? 0);
      if (!Number.isInteger(slots) || slots < 0) return new Response("slots must be a whole number", { status: 400 });
      const run = slots > 0 ? limiter(slots) : (fn) => fn();
      results = await Promise.all(urls.map((url) => run(() => fetchOne(url))));
    } else if (pathname.endsWith("/sequential")) {
      results = [];
      for (const url of urls) results.push(await fetchOne(url));
    } else {
      return new Response("not found", { status: 404 });
    }
    return Response.json({ statuses: results.map((result) => result.status), bodies: results.map((result) => result.body) });
  },
};
