"""What does the cache cost, and what does a hit save? Side by side in one run, through real gateway processes.

    .venv/bin/python bench/cache.py [--requests 2000] [--concurrency 8] [--redis-url redis://127.0.0.1:6379/0]

Each gateway serves the built-in demo model (no network upstream, zero simulated latency), so the numbers show the
gateway's own work. For plain and streamed requests it measures:

- ``off``: the cache disabled, the same request repeated (the baseline);
- ``miss``: the cache on, every request new (lookup, upstream call, then the background write);
- ``hit``: the cache on, the same request repeated (answered from the entry, no upstream call).

Columns: requests per second, latency p50/p99 as the client saw it, and the gateway's CPU time per request
(utime+stime of its process tree). The load generator is a Python asyncio client on the same machine, so req/s
is bounded by it too; CPU per request is the figure to compare.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import yaml
from _harness import cpu_seconds, free_port
from _progress import phases
from rich.console import Console
from rich.table import Table

BIN = Path(sys.executable).parent / "switchyard"


@dataclass
class Result:
    backend: str
    mode: str
    case: str
    rps: float
    p50_ms: float
    p99_ms: float
    cpu_ms: float
    statuses: dict[str, int]


class Gateway:
    def __init__(self, cache: dict[str, Any], workdir: Path) -> None:
        self.port = free_port()
        config = {
            "cache": cache,
            "model_groups": {"demo": {"deployments": [{"provider": "demo", "model": "demo-1"}]}},
        }
        workdir.mkdir(parents=True, exist_ok=True)
        path = workdir / "switchyard.yaml"
        path.write_text(yaml.safe_dump(config))
        env = {**os.environ, "SWITCHYARD_DATA_DIR": str(workdir / "data")}
        args = [str(BIN), "serve", "--config", str(path), "--port", str(self.port)]
        self.process = subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.url = f"http://127.0.0.1:{self.port}"
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.url}/health/readiness", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                time.sleep(0.05)
        self.stop()
        raise RuntimeError("gateway did not start")

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(20)


def body(stream: bool, unique: int | None) -> bytes:
    text = "Say hello in one short sentence." + (f" #{unique}" if unique is not None else "")
    request: dict[str, Any] = {"model": "demo", "messages": [{"role": "user", "content": text}], "temperature": 0}
    if stream:
        request["stream"] = True
    return json.dumps(request).encode()


async def load(
    url: str, stream: bool, unique: bool, requests: int, concurrency: int
) -> tuple[list[float], dict[str, int]]:
    counter = itertools.count()
    nonce = time.time_ns()  # every load asks new questions when ``unique``: warm-up entries must not turn into hits
    latencies: list[float] = []
    statuses: dict[str, int] = {}
    headers = {"authorization": "Bearer bench", "content-type": "application/json"}
    limits = httpx.Limits(max_connections=concurrency)
    async with httpx.AsyncClient(base_url=url, headers=headers, limits=limits, timeout=30) as client:

        async def worker() -> None:
            while (n := next(counter)) < requests:
                start = time.perf_counter()
                async with client.stream(
                    "POST", "/v1/chat/completions", content=body(stream, nonce + n if unique else None)
                ) as r:
                    await r.aread()
                    if r.status_code != 200:
                        raise RuntimeError(f"HTTP {r.status_code}: {(await r.aread())[:200]!r}")
                    status = r.headers.get("x-switchyard-cache", "none")
                latencies.append((time.perf_counter() - start) * 1000)
                statuses[status] = statuses.get(status, 0) + 1

        await asyncio.gather(*(worker() for _ in range(concurrency)))
    return latencies, statuses


def measure(gateway: Gateway, backend: str, mode: str, case: str, args: argparse.Namespace) -> Result:
    stream, unique = mode == "stream", case == "miss"
    if case == "hit":  # the entry exists before the clock starts
        asyncio.run(load(gateway.url, stream, False, 1, 1))
        time.sleep(0.2)
    asyncio.run(load(gateway.url, stream, unique, args.warmup, args.concurrency))
    cpu_before, wall_before = cpu_seconds(gateway.process.pid), time.perf_counter()
    latencies, statuses = asyncio.run(load(gateway.url, stream, unique, args.requests, args.concurrency))
    wall = time.perf_counter() - wall_before
    cpu = cpu_seconds(gateway.process.pid) - cpu_before
    latencies.sort()
    return Result(
        backend,
        mode,
        case,
        rps=len(latencies) / wall,
        p50_ms=statistics.median(latencies),
        p99_ms=latencies[int(len(latencies) * 0.99) - 1],
        cpu_ms=cpu * 1000 / len(latencies),
        statuses=statuses,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=2000, help="measured requests per case [2000]")
    parser.add_argument("--warmup", type=int, default=200, help="requests before each measurement [200]")
    parser.add_argument("--concurrency", type=int, default=8, help="connections in flight [8]")
    parser.add_argument("--redis-url", default=None, help="also measure the Redis backend on this server")
    args = parser.parse_args(argv)
    backends: list[tuple[str, dict[str, Any]]] = [("memory", {"enabled": True})]
    if args.redis_url:
        backends.append(("redis", {"enabled": True, "backend": "redis", "redis_url": args.redis_url}))
    results: list[Result] = []
    with tempfile.TemporaryDirectory(prefix="switchyard-bench-cache-") as tmp, phases(2 + 4 * len(backends)) as bar:
        off = Gateway({"enabled": False}, Path(tmp) / "off")
        try:
            for mode in ("plain", "stream"):
                bar.begin(f"no cache, {mode}")
                results.append(measure(off, "-", mode, "off", args))
        finally:
            off.stop()
        for name, settings in backends:
            gateway = Gateway(settings, Path(tmp) / name)
            try:
                for mode in ("plain", "stream"):
                    for case in ("miss", "hit"):
                        bar.begin(f"{name} {mode} {case}")
                        results.append(measure(gateway, name, mode, case, args))
            finally:
                gateway.stop()
    table = Table(title=f"cache: {args.requests} requests per case, {args.concurrency} connections, demo upstream")
    for column in ("mode", "backend", "case", "req/s", "p50 ms", "p99 ms", "CPU ms/req", "cache header"):
        table.add_column(column, justify="right" if column not in ("mode", "backend", "case") else "left")
    for r in sorted(results, key=lambda r: (r.mode, r.backend != "-", r.backend, r.case)):
        seen = ", ".join(f"{k}={v}" for k, v in sorted(r.statuses.items()))
        row = (r.mode, r.backend, r.case, f"{r.rps:.0f}", f"{r.p50_ms:.2f}", f"{r.p99_ms:.2f}", f"{r.cpu_ms:.3f}", seen)
        table.add_row(*row)
    Console().print(table)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
