"""What does governance cost? The bare gateway beside auth + limits + budget + request log, embedded and scale-out.

    .venv/bin/python bench/governance.py [--quick] [--duration 10] [--concurrency 1,16,64] [--modes plain,stream]

Same machinery as bench/overhead.py (nginx fake upstream, wrk, gateway pinned to CPU 0, the rest on CPU 1), four
targets in one run: ``direct`` (nginx), ``bare`` (no master key, no request log), ``embedded`` (a virtual key with
RPM/TPM/concurrency limits and a budget, request log in SQLite, in-process counters) and ``scaleout`` (the same on
PostgreSQL + Redis, private servers started like the tests do). See bench/README.md.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import _targets
import _wrk
import httpx
import yaml
from _harness import (
    Processes,
    cpus,
    ensure_system_tools,
    free_port,
    http_request,
    install_signal_handlers,
    log,
    rss_mb,
    wait_until,
)
from _progress import phases
from _report import Run, Startup, add_direct_baseline
from _upstream import PLAIN_PATH, Upstream, start_nginx
from overhead import bench_target
from rich.console import Console
from rich.table import Table

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH.parent))  # for tests.services: the same private Redis/PostgreSQL as the tests
from tests.services import PostgresServer, RedisServer  # noqa: E402

TARGETS = ("direct", "bare", "embedded", "scaleout")
MASTER = "sk-bench-master"
BIG = 10**9  # limits that are checked on every request but never reached


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per measured run [10]")
    parser.add_argument("--warmup", type=float, default=2.0, help="seconds of warm-up before each run [2]")
    parser.add_argument("--concurrency", default="1,16,64", help="comma-separated connection counts [1,16,64]")
    parser.add_argument("--modes", default="plain,stream", help="comma-separated: plain, stream [both]")
    parser.add_argument("--targets", default=",".join(TARGETS), help=f"which to run [{','.join(TARGETS)}]")
    parser.add_argument("--quick", action="store_true", help="16 connections, plain only, 3 s runs, 1 s warm-up")
    parser.add_argument("--output-dir", type=Path, default=BENCH / "results", help="where the JSON goes")
    args = parser.parse_args(argv)
    if args.quick:
        args.concurrency, args.duration, args.warmup, args.modes = "16", 3.0, 1.0, "plain"
    args.concurrency = [int(c) for c in str(args.concurrency).split(",") if c.strip()]
    args.modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    args.targets = [t.strip() for t in args.targets.split(",") if t.strip()]
    if any(t not in TARGETS for t in args.targets) or any(m not in ("plain", "stream") for m in args.modes):
        parser.error(f"--targets takes {', '.join(TARGETS)}; --modes plain, stream")
    args.rate = 0.0  # overhead.measure reads it: closed loop only here
    return args


def wrk_script(workdir: Path, key: str) -> Path:
    """bench/wrk/post.lua with this target's bearer key (the shared script sends a fixed placeholder)."""
    text = (BENCH / "wrk" / "post.lua").read_text().replace(_targets.API_KEY, key)
    path = workdir / f"post-{key[:10]}.lua"
    path.write_text(text)
    return path


def gateway_config(upstream: Upstream, governed: bool, shared: dict[str, Any] | None) -> dict[str, Any]:
    deployment = {"provider": "openai", "model": "gpt-4o-mini", "api_key": _targets.API_KEY}
    config: dict[str, Any] = {
        "server": {"request_log": governed},
        "model_groups": {
            "bench-model": {"deployments": [{**deployment, "api_base": upstream.plain_base}]},
            "bench-stream": {"deployments": [{**deployment, "api_base": upstream.stream_base}]},
        },
    }
    if governed:
        config["server"]["master_key"] = MASTER
    for section, values in (shared or {}).items():
        config.setdefault(section, {}).update(values)
    return config


def start_gateway(
    name: str, procs: Processes, upstream: Upstream, workdir: Path, cpu: int, shared: dict[str, Any] | None = None
) -> _targets.Target:
    """Start one gateway; governed ones get a virtual key with limits and a budget, which wrk then sends."""
    governed = name != "bare"
    home = workdir / name
    home.mkdir()
    (home / "switchyard.yaml").write_text(yaml.safe_dump(gateway_config(upstream, governed, shared)))
    port = free_port()
    argv = [str(_targets.SWITCHYARD), "serve", "--config", str(home / "switchyard.yaml"), "--port", str(port)]
    env = _targets._child_env({"SWITCHYARD_DATA_DIR": str(home / "data")})
    proc = procs.spawn(name, [*argv, "--workers", "1"], cpu, env)
    base = f"http://127.0.0.1:{port}"
    wait_until(lambda: http_request(port, "GET", "/health/readiness", timeout=2)[0] == 200, 60, name, proc)
    key = _targets.API_KEY
    if governed:
        made = httpx.post(f"{base}/admin/keys", headers={"authorization": f"Bearer {MASTER}"}, timeout=30, json={
            "alias": "bench", "rpm": BIG, "tpm": BIG, "max_concurrency": 10_000,
            "budget_usd": float(BIG), "budget_period": "monthly",
        })
        if made.status_code != 201:
            raise RuntimeError(f"{name}: creating the virtual key answered {made.status_code}: {made.text[:300]}")
        key = str(made.json()["key"])
    plain = _wrk.Load(port, PLAIN_PATH, _targets.request_body("bench-model", False), _targets.PLAIN_EXPECT)
    stream = _wrk.Load(port, PLAIN_PATH, _targets.request_body("bench-stream", True), _targets.STREAM_EXPECT)
    for load in (plain, stream):  # the key really passes auth, limits and budget
        answer = httpx.post(base + load.path, content=load.body, timeout=30,
                            headers={"authorization": f"Bearer {key}", "content-type": "application/json"})
        if answer.status_code != 200 or load.expect not in answer.text:
            raise RuntimeError(f"{name}: {load.path} answered {answer.status_code}: {answer.text[:300]}")
    _wrk.LUA = wrk_script(workdir, key)  # targets run one after the other: wrk uses this key until the next
    ready_s = time.monotonic() - proc.started_at
    time.sleep(1.0)  # let start-up work finish before load starts
    log(f"{name}: pid {proc.pid} on {base} (CPU {cpu}), checked after {ready_s:.2f}s")
    return _targets.Target(name, proc.pid, plain, stream, "switchyard", rss_mb(proc.pid), ready_s, proc)


def added_vs(runs: list[Run], baseline: str) -> dict[tuple[str, str, int], tuple[float | None, float | None]]:
    base = {(r.mode, r.conc): r.wrk for r in runs if r.target == baseline and r.valid}
    out: dict[tuple[str, str, int], tuple[float | None, float | None]] = {}
    for run in runs:
        ref = base.get((run.mode, run.conc))
        if run.target == "direct" or ref is None or not run.valid or run.wrk.p50_ms is None or ref.p50_ms is None:
            continue
        assert run.wrk.p99_ms is not None and ref.p99_ms is not None
        out[(run.target, run.mode, run.conc)] = (run.wrk.p50_ms - ref.p50_ms, run.wrk.p99_ms - ref.p99_ms)
    return out


def report(runs: list[Run]) -> Table:
    def num(value: float | None, digits: int = 2) -> str:
        return "-" if value is None else f"{value:,.{digits}f}"

    vs_bare = added_vs(runs, "bare")
    table = Table(title="Governance overhead: auth + limits + budget + request log, beside the bare path")
    for column in ("target", "mode", "conns", "req/s", "CPU ms/req", "p50 ms", "p99 ms",
                   "added p50 vs direct", "added p99 vs direct", "added p50 vs bare", "added p99 vs bare", "notes"):
        table.add_column(column)
    for run in runs:
        bare = vs_bare.get((run.target, run.mode, run.conc), (None, None))
        if not run.valid:
            table.add_row(run.target, run.mode, str(run.conc), "INVALID", *["-"] * 7, "; ".join(run.wrk.problems))
            continue
        table.add_row(run.target, run.mode, str(run.conc), num(run.wrk.rps, 0), num(run.cpu_ms_per_req, 3),
                      num(run.wrk.p50_ms, 3), num(run.wrk.p99_ms, 3), num(run.added_p50_ms, 3),
                      num(run.added_p99_ms, 3), num(bare[0], 3), num(bare[1], 3), "; ".join(run.notes))
    return table


def run_json(run: Run) -> dict[str, object]:
    wrk = run.wrk
    return {
        "target": run.target, "mode": run.mode, "conc": run.conc, "rps": wrk.rps, "cpu_ms_per_req": run.cpu_ms_per_req,
        "p50_ms": wrk.p50_ms, "p99_ms": wrk.p99_ms, "added_p50_vs_direct_ms": run.added_p50_ms,
        "added_p99_vs_direct_ms": run.added_p99_ms, "valid": run.valid, "problems": wrk.problems, "notes": run.notes,
    }


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    install_signal_handlers()
    ensure_system_tools()
    gateway_cpu, load_cpu = cpus()
    os.sched_setaffinity(0, {load_cpu})  # this script, and Redis/PostgreSQL it starts, stay off the gateway's CPU
    runs: list[Run] = []
    startups: list[Startup] = []
    redis: RedisServer | None = None
    postgres: PostgresServer | None = None
    with tempfile.TemporaryDirectory(prefix="switchyard-govbench-") as tmp, Processes(Path(tmp)) as procs:
        workdir = Path(tmp)
        upstream = start_nginx(procs, workdir / "nginx", load_cpu)
        try:
            if "scaleout" in args.targets:
                (workdir / "redis-data").mkdir()
                redis, postgres = RedisServer(workdir / "redis-data"), PostgresServer()
            scaleout = {} if redis is None or postgres is None else {
                "server": {"database_url": postgres.fresh_database()},
                "limits": {"backend": "redis", "redis_url": redis.url},
                "router": {"state": "redis", "state_redis_url": redis.url},
            }
            starters: dict[str, Callable[[], _targets.Target]] = {
                "direct": lambda: _targets.direct(upstream),
                "bare": lambda: start_gateway("bare", procs, upstream, workdir, gateway_cpu),
                "embedded": lambda: start_gateway("embedded", procs, upstream, workdir, gateway_cpu),
                "scaleout": lambda: start_gateway("scaleout", procs, upstream, workdir, gateway_cpu, scaleout),
            }
            with phases(len(args.targets) * (1 + len(args.modes) * len(args.concurrency))) as bar:
                for name in args.targets:
                    target_runs, startup = bench_target(starters[name], name, procs, args, (gateway_cpu, load_cpu), bar)
                    runs += target_runs
                    startups.append(startup)
        finally:
            if redis is not None:
                redis.stop()
            if postgres is not None:
                postgres.remove()
    add_direct_baseline(runs)
    console = Console() if Console().is_terminal else Console(width=190)
    console.print(report(runs))
    for startup in startups:
        if startup.error:
            console.print(f"{startup.target}: FAILED to start: {startup.error}")
    git = subprocess.run(["git", "describe", "--always", "--dirty"], capture_output=True, text=True, cwd=BENCH.parent)
    payload = {
        "date": time.strftime("%Y-%m-%d %H:%M:%S %z"), "git": git.stdout.strip(),
        "settings": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
        "startup": [vars(s) for s in startups],
        "runs": [run_json(r) for r in runs],
    }
    args.output_dir.mkdir(parents=True, exist_ok=True)
    out = args.output_dir / f"governance-{time.strftime('%Y%m%d-%H%M%S')}.json"
    out.write_text(json.dumps(payload, indent=2))
    log(f"results: {out}")
    return 0 if all(r.valid for r in runs) and not any(s.error for s in startups) else 1


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        log("interrupted: every process the bench started has been stopped")
        sys.exit(130)
