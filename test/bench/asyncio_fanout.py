"""The asyncio + aiohttp contender: the same fan-out as fanout's batch, from Python.

Usage: python3 asyncio_fanout.py '<json: {"urls": [...], "reps": 5, "limit": 6}>'
"limit" (optional, default 0 = none) caps the connections open at once (aiohttp's TCPConnector(limit=...)):
6 stands for the edge's six-connection cap.
Prints {"timings": [ms, ...]}: the client-observed wall time of each repetition (after one warm-up).
"""
import asyncio
import json
import sys
import time

import aiohttp


async def fetch_one(session: aiohttp.ClientSession, url: str) -> int:
    async with session.get(url) as response:
        await response.read()
        return response.status


async def main(spec: dict) -> None:
    urls = spec["urls"]
    # limit=0: no client-side cap, the same as Promise.all; limit=6: at most six calls in flight, the rest queue.
    connector = aiohttp.TCPConnector(limit=spec.get("limit", 0))
    async with aiohttp.ClientSession(connector=connector) as session:
        await asyncio.gather(*(fetch_one(session, url) for url in urls))  # warm-up
        timings = []
        for _ in range(spec["reps"]):
            started = time.perf_counter()
            statuses = await asyncio.gather(*(fetch_one(session, url) for url in urls))
            timings.append((time.perf_counter() - started) * 1000)
            if any(status != 200 for status in statuses):
                raise SystemExit(f"non-200 status in {statuses}")
    print(json.dumps({"timings": timings}))


if __name__ == "__main__":
    asyncio.run(main(json.loads(sys.argv[1])))
