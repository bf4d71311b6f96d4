// The reference for fanout's benchmarks: the same fetches with nothing around them. POST
// /__reference/all runs them with a bare Promise.all (the floor for any orchestration on this
// runtime); POST /__reference/all?slots=6 runs the same Promise.all behind a six-slot limiter (what
// a hand-written Worker gets on the edge, where at most six of an invocation's connections may wait
// for their response headers at once; local workerd does not enforce that cap). The limiter holds a
// call's slot until its body has been read (`release=body`, the default: the edge's rule before
// 2026-04-09) or only until its response headers arrive (`release=headers`: the edge's rule since).
// POST /__reference/sequential awaits them one by one (sequential I/O).
// Body: { "urls": ["http://127.0.0.1:PORT/delay?ms=100", ...] }. Answers { statuses, bodies }.
// test/bench/fair-worker.js is the other hand-written contender: the same calls with fanout's per-call guarantees.

/** A semaphore of `slots` slots: `acquire()` waits for a free slot, in call order, and resolves with the function that frees it. */
function limiter(slots) {
  let active = 0;
  const waiting = [];
  const release = () => {
    const next = waiting.shift();
    if (next)
      next(); // the slot is handed over by the one that frees it
    else active--;
  };
  return async () => {
    if (active < slots) active++;
    else await new Promise((resolve) => waiting.push(resolve));
    let released = false;
    return () => {
      if (!released) {
        released = true;
        release();
      }
    };
  };
}

/** The release point of `?release=`: "body" (default) or "headers"; undefined for anything else. */
function releaseOf(searchParams) {
  const release = searchParams.get("release") ?? "body";
  return release === "body" || release === "headers" ? release : undefined;
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
      const release = releaseOf(searchParams);
      if (!release) return new Response("release must be body or headers", { status: 400 });
      if (slots === 0) results = await Promise.all(urls.map(fetchOne));
      else {
        const acquire = limiter(slots);
        results = await Promise.all(
          urls.map(async (url) => {
            const free = await acquire();
            try {
              const response = await fetch(url);
              if (release === "headers") free();
              return { status: response.status, body: await response.json() };
            } finally {
              free();
            }
          }),
        );
      }
    } else if (pathname.endsWith("/sequential")) {
      results = [];
      for (const url of urls) results.push(await fetchOne(url));
    } else {
      return new Response("not found", { status: 404 });
    }
    return Response.json({ statuses: results.map((result) => result.status), bodies: results.map((result) => result.body) });
  },
};
