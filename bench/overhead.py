"""What does the gateway add? wrk against a fake nginx upstream: directly, through Switchyard, through LiteLLM.

    .venv/bin/python bench/overhead.py [--with-litellm] [--duration 10] [--concurrency 1,16,64] [--quick] [--rate R]

See bench/README.md for the method and the meaning of each column.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import _targets
import _wrk
from _harness import (
    Processes,
    cpu_busy_seconds,
    cpu_seconds,
    cpus,
    ensure_system_tools,
    install_signal_handlers,
    log,
    rss_mb,
)
from _progress import Phases, phases
from _report import (
    CLOSED_LOOP_NOTE,
    Run,
    Startup,
    add_direct_baseline,
    goal_json,
    goal_rows,
    goals,
    markdown,
    print_tables,
    write,
)
from _targets import Target
from _upstream import Upstream, start_nginx
from rich.console import Console

BENCH = Path(__file__).resolve().parent
MODES = ("plain", "stream")
TARGETS = ("direct", "switchyard", "litellm")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--with-litellm", action="store_true", help="also measure LiteLLM's proxy (installs it once)")
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per measured run [10]")
    parser.add_argument("--warmup", type=float, default=2.0, help="seconds of warm-up before each run [2]")
    parser.add_argument("--concurrency", default="1,16,64", help="comma-separated connection counts [1,16,64]")
    parser.add_argument("--quick", action="store_true", help="16 connections only, 5 s runs")
    parser.add_argument(
        "--rate", type=float, default=0.0, help="fixed total request rate in req/s (0: as fast as possible)"
    )
    parser.add_argument("--modes", default="plain,stream", help="comma-separated: plain, stream [both]")
    parser.add_argument("--targets", default="direct,switchyard", help="which to run [direct,switchyard]")
    parser.add_argument("--output-dir", type=Path, default=BENCH / "results", help="where JSON and Markdown go")
    args = parser.parse_args(argv)
    if args.quick:
        args.concurrency, args.duration = "16", 5.0
    args.concurrency = [int(c) for c in str(args.concurrency).split(",") if c.strip()]
    args.modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    args.targets = [t.strip() for t in args.targets.split(",") if t.strip()]
    if args.with_litellm and "litellm" not in args.targets:
        args.targets.append("litellm")
    if any(t not in TARGETS for t in args.targets):
        parser.error(f"--targets takes {', '.join(TARGETS)}")
    if not args.concurrency or min(args.concurrency) < 1 or any(m not in MODES for m in args.modes):
        parser.error("--concurrency needs positive integers and --modes only plain/stream")
    if args.duration < 1 or args.rate < 0:
        parser.error("--duration must be at least 1 s and --rate not negative")
    return args


def wait_for_quiet(target: Target, cpu: int, max_wait_s: float = 30.0, window_s: float = 0.5) -> bool:
    """Wait (bounded) until other processes use under 10% of the gateway's CPU; False if they never did."""
    deadline = time.monotonic() + max_wait_s
    said = False
    while True:
        busy, own = cpu_busy_seconds(cpu), cpu_seconds(target.pid)
        time.sleep(window_s)
        other = cpu_busy_seconds(cpu) - busy - (cpu_seconds(target.pid) - own if target.on_gateway_cpu else 0.0)
        if other < 0.1 * window_s:
            return True
        if time.monotonic() > deadline:
            return False
        if not said:
            log(f"CPU {cpu} is {100 * other / window_s:.0f}% busy with other processes; waiting up to {max_wait_s:g}s")
            said = True


def measure(target: Target, mode: str, conc: int, args: argparse.Namespace, cpus: tuple[int, int]) -> Run:
    gateway_cpu, load_cpu = cpus
    load = target.load(mode)
    notes: list[str] = []
    if gateway_cpu != load_cpu and not wait_for_quiet(target, gateway_cpu):
        notes.append(f"CPU{gateway_cpu} busy before")
    if args.warmup > 0:
        warm, _ = _wrk.run(load, conc, args.warmup, load_cpu, args.rate)
        if not warm.valid:
            notes.append("warm-up: " + "; ".join(warm.problems))
    busy_before = cpu_busy_seconds(gateway_cpu), cpu_busy_seconds(load_cpu)
    before = cpu_seconds(target.pid)
    result, raw = _wrk.run(load, conc, args.duration, load_cpu, args.rate)
    cpu_s = cpu_seconds(target.pid) - before
    gateway_busy = cpu_busy_seconds(gateway_cpu) - busy_before[0]
    load_busy = cpu_busy_seconds(load_cpu) - busy_before[1]
    run = Run(target.name, mode, conc, result, notes=notes, raw_output=raw)
    if result.duration_s > 0 and gateway_cpu != load_cpu:
        other = gateway_busy - (cpu_s if target.on_gateway_cpu else 0.0)
        run.other_load_pct = max(0.0, 100 * other / result.duration_s)
        run.load_cpu_busy_pct = 100 * load_busy / result.duration_s
        if run.other_load_pct > 5:
            notes.append(f"noise {run.other_load_pct:.0f}% CPU{gateway_cpu}")
        if target.on_gateway_cpu and run.load_cpu_busy_pct > 95:
            notes.append(f"CPU{load_cpu} saturated")
    run.peak_rss_mb = rss_mb(target.pid, "VmHWM")
    if result.requests:
        run.cpu_ms_per_req = cpu_s * 1000 / result.requests
    if args.rate and result.valid and result.rps < 0.95 * args.rate:
        notes.append(f"rate not reached ({result.rps:.0f} of {args.rate:.0f} req/s)")
    if result.first_error and not result.valid:
        notes.append(f"first error: {result.first_error[:200]}")
    if target.proc is not None and not target.proc.alive():
        notes.append(f"process exited with {target.proc.popen.returncode}")
    shown = f"{result.rps:,.0f} req/s p50 {result.p50_ms:.3f} ms" if result.valid else "; ".join(result.problems)
    log(f"{target.name:<10} {mode:<6} c={conc:<3} {shown}")
    return run


def bench_target(
    start: Callable[[], Target],
    name: str,
    procs: Processes,
    args: argparse.Namespace,
    cpus: tuple[int, int],
    bar: Phases,
) -> tuple[list[Run], Startup]:
    bar.begin(f"{name}: starting")
    try:
        target = start()
    except Exception as exc:  # noqa: BLE001 - one target failing to start must not lose the others' results
        log(f"{name}: could not start: {exc}")
        lines = [line.strip() for line in str(exc).splitlines() if line.strip()] or [type(exc).__name__]
        return [], Startup(name, error=" / ".join(lines)[:2000])
    startup = Startup(name, target.version, target.idle_rss_mb, target.first_answer_s)
    runs: list[Run] = []
    try:
        for mode in args.modes:
            for conc in args.concurrency:
                if target.proc is not None and not target.proc.alive():
                    log(f"{name} is no longer running:\n{target.proc.tail()}")
                    return runs, dataclasses.replace(startup, error=f"exited with {target.proc.popen.returncode}")
                bar.begin(f"{name}: {mode} at {conc} connections")
                runs.append(measure(target, mode, conc, args, cpus))
    finally:
        if target.proc is not None and name != "direct":
            procs.stop(target.proc)
    return runs, startup


def environment(upstream: Upstream, args: argparse.Namespace, gateway_cpu: int, load_cpu: int) -> dict[str, object]:
    def run(*cmd: str) -> str:
        try:
            done = subprocess.run(cmd, capture_output=True, text=True, timeout=10, cwd=BENCH.parent)
            return (done.stdout or done.stderr).strip().splitlines()[0]
        except (OSError, subprocess.SubprocessError, IndexError):
            return "?"

    cpu_model = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if "model name" in line
        ),
        "?",
    )
    return {
        "date": time.strftime("%Y-%m-%d %H:%M:%S %z"),
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "git": run("git", "describe", "--always", "--dirty"),
        "host": f"{platform.system()} {platform.release()}, {os.cpu_count()} CPUs ({cpu_model})",
        "pinning": f"gateway on CPU {gateway_cpu}; nginx, wrk and this script on CPU {load_cpu}",
        "wrk": run("wrk", "-v"),
        "load": f"{'fixed rate ' + str(args.rate) + ' req/s' if args.rate else 'closed loop'}, "
        f"{args.warmup:g} s warm-up + {args.duration:g} s per run, wrk -t1",
        "upstream": f"nginx on 127.0.0.1:{upstream.port}",
    }


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    install_signal_handlers()
    ensure_system_tools()
    gateway_cpu, load_cpu = cpus()
    os.sched_setaffinity(0, {load_cpu})  # keep this script off the gateway's CPU
    stamp = time.strftime("%Y%m%d-%H%M%S")
    runs: list[Run] = []
    startups: list[Startup] = []
    with tempfile.TemporaryDirectory(prefix="switchyard-bench-") as tmp, Processes(Path(tmp)) as procs:
        workdir = Path(tmp)
        upstream = start_nginx(procs, workdir / "nginx", load_cpu)
        meta = environment(upstream, args, gateway_cpu, load_cpu)
        starters: dict[str, Callable[[], Target]] = {
            "direct": lambda: _targets.direct(upstream),
            "switchyard": lambda: _targets.switchyard(procs, upstream, workdir, gateway_cpu),
            "litellm": lambda: _targets.litellm(procs, upstream, workdir, gateway_cpu),
        }
        with phases(len(args.targets) * (1 + len(args.modes) * len(args.concurrency))) as bar:
            for name in args.targets:
                target_runs, startup = bench_target(starters[name], name, procs, args, (gateway_cpu, load_cpu), bar)
                runs += target_runs
                startups.append(startup)
        args.output_dir.mkdir(parents=True, exist_ok=True)
        for name in ("nginx", "switchyard", "litellm"):  # their own output, kept beside the results
            log_file = workdir / f"{name}.log"
            if log_file.exists() and log_file.stat().st_size:
                shutil.copyfile(log_file, args.output_dir / f"overhead-{stamp}-{name}.log")
    add_direct_baseline(runs)
    names = [s.target for s in startups]
    checks = goals(runs, startups, fixed_rate=bool(args.rate))
    goal_table = goal_rows(checks, names)
    title = "Gateway overhead" + (f" at a fixed {args.rate:g} req/s" if args.rate else "")
    console = Console()
    if not console.is_terminal:
        console = Console(width=150)
    footnote = "" if args.rate else CLOSED_LOOP_NOTE
    print_tables(console, title, runs, startups, goal_table, footnote)
    payload: dict[str, object] = {
        "meta": meta,
        "settings": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
        "startup": [dataclasses.asdict(s) for s in startups],
        "runs": [{**dataclasses.asdict(r), "wrk": r.wrk.to_dict()} for r in runs],
        "goals": goal_json(checks, names),
    }
    json_path, md_path = write(
        args.output_dir, stamp, payload, markdown(title, meta, runs, startups, goal_table, footnote)
    )
    log(f"results: {json_path} and {md_path}")
    return 0 if all(r.valid for r in runs) and not any(s.error for s in startups) else 1


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        log("interrupted: every process the bench started has been stopped")
        sys.exit(130)
