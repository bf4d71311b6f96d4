// The reference for fanout's benchmarks: the same fetches with nothing around them, in the same
// workerd. POST /__reference/all runs them with a bare Promise.all (the floor for any orchestration
// on this runtime); POST /__reference/sequential awaits them one by one (sequential I/O).
// Body: { "urls": ["http://127.0.0.1:PORT/delay?ms=100", ...] }. Answers { statuses, bodies }.
export default {
  async fetch(request) {
    const { pathname } = new URL(request.url);
    const { urls } = await request.json();
    const fetchOne = async (url) => {
      const response = await fetch(url);
      return { status: response.status, body: await response.json() };
    };
    let results;
    if (pathname.endsWith("/all")) {
      results = await Promise.all(urls.map(fetchOne));
    } else if (pathname.endsWith("/sequential")) {
      results = [];
      for (const url of urls) results.push(await fetchOne(url));
    } else {
      return new Response("not found", { status: 404 });
    }
    return Response.json({ statuses: results.map((result) => result.status), bodies: results.map((result) => result.body) });
  },
};
