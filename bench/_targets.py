"""The things under test: nginx directly, Switchyard, and (optionally) LiteLLM's proxy, all fed by one upstream."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import yaml
from _harness import Managed, Processes, free_port, http_request, log, rss_mb, wait_until
from _upstream import PLAIN_PATH, REPLY, STREAM_PATH, Upstream
from _wrk import Load

REPO = Path(__file__).resolve().parent.parent
SWITCHYARD = REPO / ".venv" / "bin" / "switchyard"
LITELLM_VENV = REPO / "bench" / ".venv-litellm"
PROMPT = [{"role": "user", "content": "Say hello in one short sentence."}]
PLAIN_EXPECT = "nice to meet you"  # a piece of the upstream's reply: the answer really went through
STREAM_EXPECT = "[DONE]"
API_KEY = "sk-bench-not-a-real-key"


def request_body(model: str, stream: bool) -> str:
    body: dict[str, object] = {"model": model, "messages": PROMPT}
    if stream:
        body = {"model": model, "stream": True, "messages": PROMPT}
    return json.dumps(body, separators=(",", ":"))


@dataclass
class Target:
    name: str
    pid: int  # root of the process tree whose CPU and memory are measured
    plain: Load
    stream: Load
    version: str
    idle_rss_mb: float | None = None
    first_answer_s: float | None = None
    proc: Managed | None = None
    on_gateway_cpu: bool = True

    def load(self, mode: str) -> Load:
        return self.plain if mode == "plain" else self.stream


def _child_env(extra: dict[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.lower().endswith("_proxy") and k != "DATABASE_URL"}
    return {**env, "NO_PROXY": "127.0.0.1,localhost", "no_proxy": "127.0.0.1,localhost", **extra}


def _check_answers(name: str, port: int, plain: Load, stream: Load) -> None:
    """One plain and one streamed request must come back 200 with the upstream's answer, or the bench stops."""
    for load in (plain, stream):
        status, body = http_request(port, "POST", load.path, load.body.encode(), timeout=30)
        text = body.decode(errors="replace")
        if status != 200 or load.expect not in text:
            raise RuntimeError(f"{name}: {load.path} answered {status}: {text[:500]}")
    status, body = http_request(port, "POST", stream.path, stream.body.encode(), timeout=30)
    words = "".join(
        choice.get("delta", {}).get("content") or ""
        for line in body.decode().splitlines()
        if line.startswith("data: {")
        for choice in json.loads(line[6:]).get("choices", [])
    )
    if words != REPLY:
        raise RuntimeError(f"{name}: streamed content {words!r} differs from the upstream's {REPLY!r}")


def direct(upstream: Upstream) -> Target:
    model = "gpt-4o-mini"
    plain = Load(upstream.port, PLAIN_PATH, request_body(model, False), PLAIN_EXPECT)
    stream = Load(upstream.port, STREAM_PATH, request_body(model, True), STREAM_EXPECT)
    _check_answers("direct", upstream.port, plain, stream)
    version = subprocess.run([upstream.binary, "-v"], capture_output=True, text=True, timeout=10).stderr
    version = version.strip().removeprefix("nginx version: ")
    target = Target("direct", upstream.proc.pid, plain, stream, version, proc=upstream.proc, on_gateway_cpu=False)
    target.idle_rss_mb = rss_mb(upstream.proc.pid)
    target.first_answer_s = upstream.first_answer_s
    return target


def _start_gateway(
    procs: Processes,
    name: str,
    argv: list[str],
    env: dict[str, str],
    port: int,
    health: str,
    cpu: int,
    timeout_s: float,
) -> tuple[Managed, Load, Load, float]:
    plain = Load(port, PLAIN_PATH, request_body("bench-model", False), PLAIN_EXPECT)
    stream = Load(port, PLAIN_PATH, request_body("bench-stream", True), STREAM_EXPECT)
    proc = procs.spawn(name, argv, cpu, env)
    wait_until(lambda: http_request(port, "GET", health, timeout=2)[0] == 200, timeout_s, f"{name} {health}", proc)

    def answered() -> bool:
        status, body = http_request(port, "POST", plain.path, plain.body.encode(), timeout=30)
        return status == 200 and PLAIN_EXPECT in body.decode(errors="replace")

    first_answer = wait_until(answered, 30, f"{name}: first 200 chat completion", proc) - proc.started_at
    _check_answers(name, port, plain, stream)
    time.sleep(1.0)  # let start-up work finish before idle RSS is read and load starts
    log(f"{name}: pid {proc.pid} on 127.0.0.1:{port} (CPU {cpu}), first answer after {first_answer:.2f}s")
    return proc, plain, stream, first_answer


def switchyard(procs: Processes, upstream: Upstream, workdir: Path, cpu: int) -> Target:
    if not SWITCHYARD.exists():
        raise RuntimeError(f"{SWITCHYARD} not found: run `make test` or `pip install -e .` in the repo first")
    deployment = {"provider": "openai", "model": "gpt-4o-mini", "api_key": API_KEY}
    config = {
        "server": {"request_log": True},
        "model_groups": {
            "bench-model": {"deployments": [{**deployment, "api_base": upstream.plain_base}]},
            "bench-stream": {"deployments": [{**deployment, "api_base": upstream.stream_base}]},
        },
    }
    path = workdir / "switchyard.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    data_dir = workdir / "switchyard-data"
    data_dir.mkdir(exist_ok=True)
    port = free_port()
    argv = [str(SWITCHYARD), "serve", "--config", str(path), "--port", str(port), "--workers", "1"]
    env = _child_env({"SWITCHYARD_DATA_DIR": str(data_dir)})
    proc, plain, stream, first = _start_gateway(procs, "switchyard", argv, env, port, "/health/readiness", cpu, 60)
    version = subprocess.run([str(SWITCHYARD), "version"], capture_output=True, text=True, timeout=30).stdout
    version = "switchyard " + version.strip().removeprefix("switchyard ")
    return Target("switchyard", proc.pid, plain, stream, version, rss_mb(proc.pid), first, proc)


def ensure_litellm() -> Path:
    """bench/.venv-litellm with ``litellm[proxy]``, created on first use (a few minutes, printed as it goes)."""
    exe = LITELLM_VENV / "bin" / "litellm"
    if exe.exists():
        return exe
    log(f"installing litellm[proxy] into {LITELLM_VENV} (first use only; takes a few minutes)")
    subprocess.run(["python3", "-m", "venv", str(LITELLM_VENV)], check=True, timeout=300)
    pip = [str(LITELLM_VENV / "bin" / "pip"), "install", "--progress-bar", "off"]
    subprocess.run([*pip, "--upgrade", "pip"], check=False, timeout=600, stdout=sys.stderr)
    result = subprocess.run([*pip, "litellm[proxy]"], check=False, timeout=1800, stdout=sys.stderr)
    if result.returncode != 0 or not exe.exists():
        raise RuntimeError(f"pip install 'litellm[proxy]' failed with exit code {result.returncode} (output above)")
    return exe


def litellm(procs: Processes, upstream: Upstream, workdir: Path, cpu: int) -> Target:
    exe = ensure_litellm()
    params = {"model": "openai/gpt-4o-mini", "api_key": API_KEY}
    config = {
        "model_list": [
            {"model_name": "bench-model", "litellm_params": {**params, "api_base": upstream.plain_base}},
            {"model_name": "bench-stream", "litellm_params": {**params, "api_base": upstream.stream_base}},
        ],
        "litellm_settings": {"telemetry": False},
        # Switchyard runs without a master key here, so LiteLLM does too (same work per request: no auth).
        "general_settings": {"dangerously_permit_weak_or_unset_master_key": True},
    }
    path = workdir / "litellm.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    port = free_port()
    argv = [str(exe), "--config", str(path), "--host", "127.0.0.1", "--port", str(port), "--num_workers", "1"]
    env = _child_env(
        {
            "LITELLM_TELEMETRY": "False",
            "LITELLM_LOCAL_MODEL_COST_MAP": "True",
            "DISABLE_SCHEMA_UPDATE": "True",
            "LITELLM_DANGEROUSLY_PERMIT_WEAK_OR_UNSET_MASTER_KEY": "true",
        }
    )
    proc, plain, stream, first = _start_gateway(procs, "litellm", argv, env, port, "/health/liveliness", cpu, 120)
    python = str(LITELLM_VENV / "bin" / "python")
    code = "import importlib.metadata as m; print('litellm', m.version('litellm'))"
    version = subprocess.run([python, "-c", code], capture_output=True, text=True, timeout=60).stdout.strip()
    return Target("litellm", proc.pid, plain, stream, version, rss_mb(proc.pid), first, proc)
