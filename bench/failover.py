"""Failover under faults: what a client sees when upstreams fail, through Switchyard and through LiteLLM's proxy.

    .venv/bin/python bench/failover.py                      # Switchyard (about 1 minute)
    .venv/bin/python bench/failover.py --target litellm     # LiteLLM's proxy (installed into bench/.venv-litellm once)
    .venv/bin/python bench/failover.py --target both        # both, side by side
    .venv/bin/python bench/failover.py --only ttft,mid-cut  # a few scenarios

Each scenario starts fresh fake OpenAI upstreams (tests/fakes) in this process, injects a fault, sends requests
through the gateway and checks what the client saw, how many calls each upstream received, and how long the
client waited. See bench/README.md and docs/failover.md for the scenarios and the columns.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
import traceback
from collections import Counter
from dataclasses import asdict
from pathlib import Path
from typing import Any

from _failover_client import COMPLETE, OK, chat
from _failover_ctx import Ctx, FakeOpenAI, Scenario, Upstreams
from _failover_gateways import (
    KEY,
    WARMUP,
    Gateway,
    litellm_config,
    litellm_key,
    litellm_parts,
    prefixed,
    start_litellm,
    start_switchyard,
    switchyard_config,
    version,
)
from _failover_report import Row, TargetResult, calls_text, print_table, write
from _failover_scenarios import SCENARIOS
from _harness import Processes, cpus, free_port, install_signal_handlers, log
from _progress import Phases, phases
from rich.console import Console

BENCH = Path(__file__).resolve().parent
TARGETS = ("switchyard", "litellm")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--target", choices=(*TARGETS, "both"), default="switchyard", help="gateway(s) to test")
    parser.add_argument("--only", default="", help="comma-separated scenario keys (default: all)")
    parser.add_argument("--list", action="store_true", help="list the scenarios and exit")
    parser.add_argument("--output-dir", type=Path, default=BENCH / "results", help="where JSON and Markdown go")
    parser.add_argument("--keep-logs", action="store_true", help="copy the gateways' logs next to the results")
    args = parser.parse_args(argv)
    known = {s.key for s in SCENARIOS}
    args.only = [k.strip() for k in args.only.split(",") if k.strip()]
    unknown = [k for k in args.only if k not in known]
    if unknown:
        parser.error(f"unknown scenario(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}")
    args.targets = list(TARGETS) if args.target == "both" else [args.target]
    return args


# --- running --------------------------------------------------------------------------------------------------


class _Placeholder:
    base_url = "http://127.0.0.1:9/v1"


def _upstreams(s: Scenario, placeholder: bool = False) -> Upstreams:
    prefix = f"{s.key}-"
    if placeholder:
        stand_ins: dict[str, Any] = {n: _Placeholder() for n in s.fakes}
        return Upstreams(prefix, stand_ins, 9 if s.dead else None)
    fakes = {name: FakeOpenAI(api_key=KEY).start() for name in s.fakes}
    return Upstreams(prefix, fakes, free_port() if s.dead else None)


def _setup(s: Scenario, ups: Upstreams) -> dict[str, Any]:
    return prefixed(ups.prefix, s.build(ups))


def _stop_fakes(ups: Upstreams) -> None:
    for fake in ups.fakes.values():
        try:
            fake.stop()
        except Exception as exc:  # noqa: BLE001 - cleanup goes on
            log(f"stopping a fake upstream: {exc}")


def _baseline(gateway: Gateway) -> tuple[dict[str, float], str]:
    """Warm up, then the median latency of 5 healthy plain and 5 healthy stream requests; and the reply text."""
    for _ in range(2):
        chat(gateway.base_url, WARMUP)
        chat(gateway.base_url, WARMUP, stream=True)
    plain = [chat(gateway.base_url, WARMUP) for _ in range(5)]
    stream = [chat(gateway.base_url, WARMUP, stream=True) for _ in range(5)]
    bad = [s.summary() for s in plain + stream if s.kind not in (OK, COMPLETE)]
    if bad:
        raise RuntimeError(f"{gateway.target}: healthy requests failed: {bad}")
    text = stream[0].text
    reply = plain[0].body["choices"][0]["message"]["content"]
    if text != reply:
        raise RuntimeError(f"{gateway.target}: streamed text {text!r} differs from the plain reply {reply!r}")
    return {
        "plain": statistics.median(s.seconds for s in plain),
        "stream": statistics.median(s.seconds for s in stream),
    }, text


def _saw(ctx: Ctx) -> str:
    counts = Counter(s.summary() for s in ctx.seen)
    return ", ".join(f"{text} ×{n}" if n > 1 else text for text, n in counts.items())


def _run_scenario(s: Scenario, gateway: Gateway, ups: Upstreams, base: dict[str, float], text: str) -> Row:
    row = Row(gateway.target, s.key, s.title, s.expect)
    ctx = Ctx(s, gateway, ups, text)
    try:
        s.run(ctx)
    except Exception:  # noqa: BLE001 - one broken scenario must not hide the others
        row.error = traceback.format_exc()
        log(f"{gateway.target} {s.key}: {row.error}")
    row.saw = _saw(ctx)
    row.calls = ctx.all_calls()
    if ctx.latency_override is not None:
        row.latency_s = ctx.latency_override
    elif ctx.key is not None:
        row.latency_s = ctx.key.seconds
    if row.latency_s is not None and s.mode in base:
        row.added_ms = (row.latency_s - base[s.mode]) * 1000
    row.checks = [asdict(c) for c in ctx.checks]
    row.failed = [f"{c.what} ({c.detail})" if c.detail else c.what for c in ctx.checks if not c.ok]
    row.requests = [seen.to_json() for seen in ctx.seen]
    if row.error:
        row.verdict = "ERROR"
        row.failed.append(row.error.strip().splitlines()[-1])
    else:
        row.verdict = "PASS" if ctx.checks and not row.failed else "FAIL"
    return row


def run_switchyard(scenarios: list[Scenario], procs: Processes, workdir: Path, cpu: int, bar: Phases) -> TargetResult:
    result = TargetResult("switchyard", version("switchyard"))
    for s in scenarios:
        bar.begin(f"switchyard {s.key}")
        ups = _upstreams(s)
        warm = FakeOpenAI(api_key=KEY).start()
        gateway = None
        try:
            setup = _setup(s, ups)
            config = switchyard_config(setup, warm.base_url)
            gateway = start_switchyard(procs, workdir, f"switchyard-{s.key}", config, cpu, trace_connects=s.dead)
            result.gateways += 1
            base, text = _baseline(gateway)
            result.baselines.append(base)
            row = _run_scenario(s, gateway, ups, base, text)
            row.setup = setup
        except Exception as exc:  # noqa: BLE001
            row = Row("switchyard", s.key, s.title, s.expect, error=traceback.format_exc(), failed=[str(exc)])
            log(f"switchyard {s.key}: {row.error}")
        finally:
            if gateway is not None:
                procs.stop(gateway.proc, grace_s=3)
            _stop_fakes(ups)
            warm.stop()
        result.rows.append(row)
        log(f"switchyard {s.key}: {row.verdict}  {row.saw}  {calls_text(row.calls)}")
    return result


def run_litellm(scenarios: list[Scenario], procs: Processes, workdir: Path, cpu: int, bar: Phases) -> TargetResult:
    result = TargetResult("litellm", version("litellm"))
    groups: dict[str, list[Scenario]] = {}
    for s in scenarios:
        groups.setdefault(litellm_key(_setup(s, _upstreams(s, placeholder=True))), []).append(s)
    rows: dict[str, Row] = {}
    for index, members in enumerate(groups.values(), start=1):
        ups = {s.key: _upstreams(s) for s in members}
        warm = FakeOpenAI(api_key=KEY).start()
        gateway = None
        name = f"litellm-{index}"
        try:
            setups = {s.key: _setup(s, ups[s.key]) for s in members}
            config = litellm_config(list(setups.values()), warm.base_url)
            log(f"{name}: starting for {', '.join(setups)}")
            gateway = start_litellm(procs, workdir, name, config, cpu, trace_connects=any(s.dead for s in members))
            result.gateways += 1
            base, text = _baseline(gateway)
            result.baselines.append(base)
            for s in members:
                bar.begin(f"litellm {s.key}")
                row = _run_scenario(s, gateway, ups[s.key], base, text)
                row.setup = {"switchyard": setups[s.key], "litellm": _litellm_part(setups[s.key], config)}
                row.litellm_unmapped = litellm_parts(setups[s.key])[3]
                rows[s.key] = row
                _stop_fakes(ups[s.key])
                log(f"litellm {s.key}: {row.verdict}  {row.saw}  {calls_text(row.calls)}")
        except Exception as exc:  # noqa: BLE001
            for s in members:
                if s.key not in rows:
                    rows[s.key] = Row(
                        "litellm", s.key, s.title, s.expect, error=traceback.format_exc(), failed=[str(exc)]
                    )
            log(f"{name}: {traceback.format_exc()}")
        finally:
            if gateway is not None:
                procs.stop(gateway.proc, grace_s=3)
            for u in ups.values():
                _stop_fakes(u)
            warm.stop()
    result.rows = [rows[s.key] for s in scenarios if s.key in rows]
    return result


def _litellm_part(setup: dict[str, Any], config: dict[str, Any]) -> dict[str, Any]:
    """The parts of a merged LiteLLM config that belong to one scenario."""
    names = set(setup["model_groups"])
    router: dict[str, Any] = {}
    for key, value in config["router_settings"].items():
        if isinstance(value, list):  # fallback lists: keep this scenario's entries only
            value = [entry for entry in value if set(entry) & names]
            if not value:
                continue
        router[key] = value
    return {"model_list": [m for m in config["model_list"] if m["model_name"] in names], "router_settings": router}


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.list:
        for s in SCENARIOS:
            print(f"{s.key:18} {s.title}  →  {s.expect}")
        return 0
    install_signal_handlers()
    scenarios = [s for s in SCENARIOS if not args.only or s.key in args.only]
    gateway_cpu, load_cpu = cpus()
    if gateway_cpu != load_cpu:
        os.sched_setaffinity(0, {load_cpu})  # fakes and client on one CPU, the gateway on the other
    stamp = time.strftime("%Y%m%d-%H%M%S")
    console = Console(width=None if sys.stdout.isatty() else 200)
    results: list[TargetResult] = []
    with (
        tempfile.TemporaryDirectory(prefix="failover-") as tmp,
        Processes(Path(tmp)) as procs,
        phases(len(args.targets) * len(scenarios)) as bar,
    ):
        for target in args.targets:
            started = time.monotonic()
            runner = run_switchyard if target == "switchyard" else run_litellm
            try:
                result = runner(scenarios, procs, Path(tmp), gateway_cpu, bar)
            except Exception as exc:  # noqa: BLE001 - report the other target anyway
                log(f"{target}: {traceback.format_exc()}")
                result = TargetResult(target, error=str(exc))
            result.seconds = time.monotonic() - started
            results.append(result)
        if args.keep_logs:
            logs = args.output_dir / f"failover-{stamp}-logs"
            logs.mkdir(parents=True, exist_ok=True)
            for path in Path(tmp).glob("*.log"):
                (logs / path.name).write_bytes(path.read_bytes())
    print_table(console, results, scenarios)
    md_path, json_path = write(results, scenarios, args.output_dir, stamp)
    console.print(f"wrote {md_path.relative_to(Path.cwd()) if md_path.is_relative_to(Path.cwd()) else md_path}")
    console.print(f"wrote {json_path.relative_to(Path.cwd()) if json_path.is_relative_to(Path.cwd()) else json_path}")
    sy = next((r for r in results if r.target == "switchyard"), None)
    broken = any(r.error for r in results) or (sy is not None and any(row.verdict != "PASS" for row in sy.rows))
    return 1 if broken else 0


if __name__ == "__main__":
    sys.exit(main())
