"""Runs a real gateway process on loopback for tests, the way a user starts it."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import yaml

ROOT = Path(__file__).resolve().parent.parent
SWITCHYARD = Path(sys.executable).parent / "switchyard"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class GatewayProcess:
    def __init__(self, config: dict[str, Any] | None, tmp: Path, env: dict[str, str] | None = None) -> None:
        self.port = free_port()
        self.data_dir = tmp / "data"
        self.config_path: Path | None = None
        args = [str(SWITCHYARD), "serve", "--port", str(self.port)]
        if config is not None:
            self.config_path = tmp / "switchyard.yaml"
            self.config_path.write_text(yaml.safe_dump(config))
            args += ["--config", str(self.config_path)]
        environment = {**os.environ, "SWITCHYARD_DATA_DIR": str(self.data_dir), **(env or {})}
        environment.pop("SWITCHYARD_CONFIG", None)
        self.log_path = tmp / "gateway.log"
        self._log = self.log_path.open("wb")
        self.process = subprocess.Popen(args, env=environment, stdout=self._log, stderr=subprocess.STDOUT, cwd=tmp)
        self.base_url = f"http://127.0.0.1:{self.port}"
        self._wait_ready()

    def _wait_ready(self, timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"gateway exited early:\n{self.output()}")
            try:
                if httpx.get(f"{self.base_url}/health/readiness", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"gateway not ready in {timeout}s:\n{self.output()}")

    def output(self) -> str:
        if not self._log.closed:
            self._log.flush()
        return self.log_path.read_text(errors="replace")

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 20.0) -> int:
        if self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._log.close()
        return self.process.returncode
