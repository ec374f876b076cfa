"""The gateways under test in the failover bench: their configs and their processes.

A scenario describes its setup as a Switchyard config (router settings and model groups). For LiteLLM's proxy the
same setup is translated, as faithfully as LiteLLM's documented settings allow, into a proxy config:

- model group with deployments → ``model_list`` entries sharing one ``model_name``
- ``strategy: ordered`` + ``priority`` → ``litellm_params.order`` (1 first; LiteLLM's order-based fallback)
- ``num_retries`` → ``router_settings.num_retries``
- ``timeout_s`` (per attempt) → ``litellm_params.timeout``
- ``ttft_timeout_s`` / ``stall_timeout_s`` → ``litellm_params.stream_timeout`` (LiteLLM's only stream deadline)
- ``total_timeout_s`` → ``router_settings.timeout`` (in LiteLLM a per-attempt default, not a total deadline)
- ``breaker.consecutive_failures`` N → ``router_settings.allowed_fails`` N-1 (it cools down when fails > N-1)
- ``breaker.cooldown_s`` → ``router_settings.cooldown_time``; ``breaker.enabled: false`` → ``disable_cooldowns``
- ``fallbacks`` default / context_window / content_policy → ``fallbacks`` / ``context_window_fallbacks`` /
  ``content_policy_fallbacks``
- ``hedge``, ``retry_budget``, ``max_retry_after_s``: no equivalent, left out (listed per scenario in the JSON)

Settings a scenario does not set stay at each gateway's default. Scenarios whose LiteLLM ``router_settings``
are equal share one proxy (each scenario has its own model names and its own fake upstreams), because the proxy
takes about 15 s to start.
"""

from __future__ import annotations

import copy
import json
import os
import re
import shutil
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from _harness import Managed, Processes, free_port, http_request, log, wait_until
from _targets import LITELLM_VENV, SWITCHYARD, _child_env, ensure_litellm

KEY = "sk-failover-0123456789"
UPSTREAM_MODEL = "gpt-4o-mini"
WARMUP = "warmup"


@dataclass
class Gateway:
    target: str
    base_url: str
    proc: Managed
    config: dict[str, Any]
    connect_log: Path | None = None
    scenarios: list[str] = field(default_factory=list)

    def connects(self, port: int) -> int:
        """connect() calls the gateway made to 127.0.0.1:``port`` so far (from strace's log)."""
        if self.connect_log is None or not self.connect_log.exists():
            return 0
        pattern = re.compile(rf"connect\(.*htons\({port}\)")
        return sum(1 for line in self.connect_log.read_text(errors="replace").splitlines() if pattern.search(line))


# --- configs ----------------------------------------------------------------------------------------------------


def deployment(name: str, api_base: str, priority: int | None = None) -> dict[str, Any]:
    dep: dict[str, Any] = {
        "id": name,
        "provider": "openai",
        "model": UPSTREAM_MODEL,
        "api_base": api_base,
        "api_key": KEY,
    }
    if priority is not None:
        dep["priority"] = priority
    return dep


def prefixed(prefix: str, setup: dict[str, Any]) -> dict[str, Any]:
    """The scenario's setup with its model group names (and the fallbacks naming them) prefixed."""
    setup = copy.deepcopy(setup)
    groups = {}
    for name, group in setup["model_groups"].items():
        for chain, targets in (group.get("fallbacks") or {}).items():
            group["fallbacks"][chain] = [f"{prefix}{t}" for t in targets]
        groups[f"{prefix}{name}"] = group
    setup["model_groups"] = groups
    return setup


def switchyard_config(setup: dict[str, Any], warmup_base: str) -> dict[str, Any]:
    router = {"strategy": "ordered", "num_retries": 2, "retry_backoff_s": 0.01, **setup.get("router", {})}
    groups = {WARMUP: {"deployments": [deployment("warmup", warmup_base)]}, **setup["model_groups"]}
    return {"router": router, "model_groups": groups}


UNMAPPED_ROUTER_KEYS = ("hedge", "retry_budget", "max_retry_after_s")


def litellm_parts(
    setup: dict[str, Any],
) -> tuple[dict[str, Any], list[dict[str, Any]], dict[str, list[Any]], list[str]]:
    """(router_settings without fallbacks, model_list, fallback lists, Switchyard settings left out)."""
    router = {"num_retries": 2, **setup.get("router", {})}
    settings: dict[str, Any] = {"routing_strategy": "simple-shuffle", "num_retries": router["num_retries"]}
    breaker = router.get("breaker")
    if breaker is not None:
        if breaker.get("enabled", True) is False:
            settings["disable_cooldowns"] = True
        else:
            if "consecutive_failures" in breaker:
                settings["allowed_fails"] = breaker["consecutive_failures"] - 1
            if "cooldown_s" in breaker:
                settings["cooldown_time"] = breaker["cooldown_s"]
    if "total_timeout_s" in router:
        settings["timeout"] = router["total_timeout_s"]
    per_deployment: dict[str, Any] = {}
    if "timeout_s" in router:
        per_deployment["timeout"] = router["timeout_s"]
    stream_deadline = router.get("ttft_timeout_s") or router.get("stall_timeout_s")
    if stream_deadline:
        per_deployment["stream_timeout"] = stream_deadline
    model_list: list[dict[str, Any]] = []
    fallbacks: dict[str, list[Any]] = {"fallbacks": [], "context_window_fallbacks": [], "content_policy_fallbacks": []}
    for name, group in setup["model_groups"].items():
        deps = sorted(group["deployments"], key=lambda d: -int(d.get("priority", 0)))
        for order, dep in enumerate(deps, start=1):
            params = {
                "model": f"openai/{dep['model']}",
                "api_base": dep["api_base"],
                "api_key": dep["api_key"],
                **per_deployment,
            }
            if len(deps) > 1:
                params["order"] = order
            model_list.append({"model_name": name, "litellm_params": params, "model_info": {"id": dep["id"]}})
        chains = group.get("fallbacks") or {}
        for chain, key in (
            ("default", "fallbacks"),
            ("context_window", "context_window_fallbacks"),
            ("content_policy", "content_policy_fallbacks"),
        ):
            if chains.get(chain):
                fallbacks[key].append({name: chains[chain]})
    unmapped = [f"router.{k}" for k in UNMAPPED_ROUTER_KEYS if k in router]
    return settings, model_list, fallbacks, unmapped


def litellm_key(setup: dict[str, Any]) -> str:
    return json.dumps(litellm_parts(setup)[0], sort_keys=True)


def litellm_config(setups: list[dict[str, Any]], warmup_base: str) -> dict[str, Any]:
    """One proxy config for several scenarios with equal router_settings."""
    settings: dict[str, Any] = {}
    model_list: list[dict[str, Any]] = [
        {
            "model_name": WARMUP,
            "litellm_params": {"model": f"openai/{UPSTREAM_MODEL}", "api_base": warmup_base, "api_key": KEY},
            "model_info": {"id": "warmup"},
        }
    ]
    merged: dict[str, list[Any]] = {"fallbacks": [], "context_window_fallbacks": [], "content_policy_fallbacks": []}
    for setup in setups:
        settings, models, fallbacks, _ = litellm_parts(setup)
        model_list += models
        for key, value in fallbacks.items():
            merged[key] += value
    router_settings = {**settings, **{k: v for k, v in merged.items() if v}}
    return {
        "model_list": model_list,
        "router_settings": router_settings,
        "litellm_settings": {"telemetry": False},
        # Switchyard runs without a master key here, so LiteLLM does too (as in bench/overhead.py).
        "general_settings": {"dangerously_permit_weak_or_unset_master_key": True},
    }


# --- processes --------------------------------------------------------------------------------------------------


def ensure_strace() -> None:
    """strace counts connection attempts to a closed port; install Debian's package when it is missing."""
    if shutil.which("strace"):
        return
    sudo = [] if os.geteuid() == 0 else ["sudo", "-n"]
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    log("installing strace with apt-get (counts connection attempts to the dead deployment)")
    install = [*sudo, "apt-get", "install", "-y", "-q", "strace"]
    if subprocess.run(install, env=env, timeout=900, check=False).returncode != 0:
        subprocess.run([*sudo, "apt-get", "update", "-q"], env=env, timeout=900, check=False)
        subprocess.run(install, env=env, timeout=900, check=False)
    if not shutil.which("strace"):
        raise RuntimeError("strace is needed to count connection attempts to a closed port; apt-get install strace")


def _strace(log_path: Path) -> list[str]:
    """Counts the gateway's connect() calls (to a port where nothing listens, no fake can count them)."""
    ensure_strace()
    return ["strace", "-f", "-qq", "--seccomp-bpf", "-e", "trace=connect", "-e", "signal=none", "-o", str(log_path)]


def _wait_answering(gateway: Gateway, timeout_s: float) -> None:
    body = json.dumps({"model": WARMUP, "messages": [{"role": "user", "content": "hello"}]}).encode()
    port = int(gateway.base_url.rsplit(":", 1)[1])

    def answered() -> bool:
        return http_request(port, "POST", "/v1/chat/completions", body, timeout=10)[0] == 200

    wait_until(answered, timeout_s, f"{gateway.target}: first 200 chat completion", gateway.proc, interval_s=0.05)


def start_switchyard(
    procs: Processes, workdir: Path, name: str, config: dict[str, Any], cpu: int, trace_connects: bool
) -> Gateway:
    if not SWITCHYARD.exists():
        raise RuntimeError(f"{SWITCHYARD} not found: run `pip install -e .` in the repo first")
    home = workdir / name
    home.mkdir(parents=True, exist_ok=True)
    path = home / "switchyard.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    port = free_port()
    argv = [str(SWITCHYARD), "serve", "--config", str(path), "--port", str(port), "--workers", "1"]
    connect_log = home / "connects.strace" if trace_connects else None
    if connect_log is not None:
        argv = _strace(connect_log) + argv
    env = _child_env({"SWITCHYARD_DATA_DIR": str(home / "data")})
    env.pop("SWITCHYARD_CONFIG", None)
    proc = procs.spawn(name, argv, cpu, env)
    gateway = Gateway("switchyard", f"http://127.0.0.1:{port}", proc, config, connect_log)
    wait_until(lambda: http_request(port, "GET", "/health/readiness", timeout=2)[0] == 200, 30, f"{name} ready", proc)
    _wait_answering(gateway, 30)
    return gateway


def start_litellm(
    procs: Processes, workdir: Path, name: str, config: dict[str, Any], cpu: int, trace_connects: bool
) -> Gateway:
    exe = ensure_litellm()
    home = workdir / name
    home.mkdir(parents=True, exist_ok=True)
    path = home / "litellm.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    port = free_port()
    argv = [str(exe), "--config", str(path), "--host", "127.0.0.1", "--port", str(port), "--num_workers", "1"]
    connect_log = home / "connects.strace" if trace_connects else None
    if connect_log is not None:
        argv = _strace(connect_log) + argv
    env = _child_env(
        {
            "LITELLM_TELEMETRY": "False",
            "LITELLM_LOCAL_MODEL_COST_MAP": "True",
            "DISABLE_SCHEMA_UPDATE": "True",
            "LITELLM_DANGEROUSLY_PERMIT_WEAK_OR_UNSET_MASTER_KEY": "true",
        }
    )
    started = time.monotonic()
    proc = procs.spawn(name, argv, cpu, env)
    gateway = Gateway("litellm", f"http://127.0.0.1:{port}", proc, config, connect_log)
    wait_until(lambda: http_request(port, "GET", "/health/liveliness", timeout=2)[0] == 200, 180, f"{name}", proc)
    _wait_answering(gateway, 60)
    log(f"{name}: ready after {time.monotonic() - started:.1f}s")
    return gateway


def version(target: str) -> str:
    try:
        if target == "switchyard":
            out = subprocess.run([str(SWITCHYARD), "version"], capture_output=True, text=True, timeout=30).stdout
            return "switchyard " + out.strip().removeprefix("switchyard ")
        python = str(LITELLM_VENV / "bin" / "python")
        code = "import importlib.metadata as m; print('litellm', m.version('litellm'))"
        return subprocess.run([python, "-c", code], capture_output=True, text=True, timeout=60).stdout.strip()
    except (OSError, subprocess.SubprocessError) as exc:
        return f"{target} (version unknown: {exc})"
