"""Run wrk with bench/wrk/post.lua and parse its report."""

from __future__ import annotations

import os
import re
import signal
import subprocess
from dataclasses import asdict, dataclass, field
from pathlib import Path

LUA = Path(__file__).with_name("wrk") / "post.lua"
_UNITS_MS = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3, "h": 3600e3}


@dataclass
class Load:
    """What to send: one fixed POST, and the substring every good response body contains."""

    port: int
    path: str
    body: str
    expect: str


@dataclass
class WrkResult:
    requests: int = 0
    duration_s: float = 0.0
    rps: float = 0.0
    p50_ms: float | None = None
    p99_ms: float | None = None
    non2xx: int = 0
    bad_body: int = 0
    statuses: dict[str, int] = field(default_factory=dict)
    socket_errors: dict[str, int] = field(default_factory=dict)
    first_error: str = ""
    exit_code: int = 0

    @property
    def problems(self) -> list[str]:
        found = []
        if self.exit_code != 0:
            found.append(f"wrk exit {self.exit_code}")
        if self.non2xx:
            codes = ", ".join(f"{count}x{code}" for code, count in sorted(self.statuses.items()))
            found.append(f"{self.non2xx} non-2xx" + (f" ({codes})" if codes else ""))
        if self.bad_body:
            found.append(f"{self.bad_body} bad bodies")
        errors = sum(self.socket_errors.values())
        if errors:
            found.append(
                f"{errors} socket errors ({', '.join(f'{k} {v}' for k, v in self.socket_errors.items() if v)})"
            )
        if self.requests == 0 or self.p50_ms is None:
            found.append("no completed requests")
        return found

    @property
    def valid(self) -> bool:
        return not self.problems

    def to_dict(self) -> dict[str, object]:
        return {**asdict(self), "valid": self.valid, "problems": self.problems}


def _ms(value: str, unit: str) -> float:
    return float(value) * _UNITS_MS[unit]


def parse(output: str) -> WrkResult:
    """Parse wrk's text report (with --latency) and the BENCH_ lines printed by post.lua's done()."""
    result = WrkResult()
    match = re.search(r"^\s*(\d+) requests in ([\d.]+)(us|ms|s|m|h),", output, re.M)
    if match:
        result.requests = int(match.group(1))
        result.duration_s = _ms(match.group(2), match.group(3)) / 1e3
    match = re.search(r"^Requests/sec:\s+([\d.]+)", output, re.M)
    if match:
        result.rps = float(match.group(1))
    distribution = output.split("Latency Distribution", 1)[-1] if "Latency Distribution" in output else ""
    for pct, attr in (("50", "p50_ms"), ("99", "p99_ms")):
        match = re.search(rf"^\s*{pct}%\s+([\d.]+)(us|ms|s|m|h)\s*$", distribution, re.M)
        if match:
            setattr(result, attr, _ms(match.group(1), match.group(2)))
    match = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output)
    if match:
        result.socket_errors = dict(zip(("connect", "read", "write", "timeout"), map(int, match.groups()), strict=True))
    match = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    wrk_non2xx = int(match.group(1)) if match else 0
    match = re.search(r"^BENCH_CHECK non2xx=(\d+) bad_body=(\d+) statuses=(\S*)", output, re.M)
    if match:
        result.non2xx, result.bad_body = int(match.group(1)), int(match.group(2))
        pairs = (item.split(":") for item in match.group(3).split(",") if item)
        result.statuses = {code: int(count) for code, count in pairs}
    else:
        result.bad_body = 1  # the check did not run: treat the run as unverified
        result.first_error = "post.lua printed no BENCH_CHECK line"
    result.non2xx = max(result.non2xx, wrk_non2xx)
    match = re.search(r"^BENCH_FIRST_ERROR ?(.*)$", output, re.M)
    if match and match.group(1).strip():
        result.first_error = match.group(1).strip()
    return result


def run(load: Load, connections: int, duration_s: float, cpu: int, rate: float = 0.0) -> tuple[WrkResult, str]:
    """One wrk run, pinned to ``cpu``; returns the parsed result and wrk's raw output."""
    argv = [
        "taskset", "-c", str(cpu), "wrk", "-t1", f"-c{connections}", f"-d{max(1, round(duration_s))}s",
        "--latency", "--timeout", "5s", "-s", str(LUA), f"http://127.0.0.1:{load.port}{load.path}",
    ]  # fmt: skip
    env = {
        **os.environ,
        "BENCH_PATH": load.path,
        "BENCH_BODY": load.body,
        "BENCH_EXPECT": load.expect,
        "BENCH_RATE": f"{rate:.3f}",
    }
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    try:
        raw, _ = proc.communicate(timeout=duration_s + 30)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=5)
    output = raw.decode(errors="replace")
    result = parse(output)
    result.exit_code = proc.returncode
    return result, output
