"""Real Redis and PostgreSQL servers on loopback for the tests, started from Debian's packages.

`scripts/test-services.sh` installs the packages; these classes run private instances in temporary directories
on free ports, so tests never touch a system service and can stop and restart a server mid-test.
"""

from __future__ import annotations

import itertools
import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

_PG_BIN_ROOT = Path("/usr/lib/postgresql")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_port(port: int, proc: subprocess.Popen[bytes], what: str, timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited with {proc.returncode} while starting")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"{what} did not listen on port {port} within {timeout_s} s")


def _stop(proc: subprocess.Popen[bytes] | None) -> None:
    if proc is None or proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(5)


class RedisServer:
    """A redis-server without persistence. ``url`` stays the same across ``stop``/``start``/``restart``."""

    def __init__(self, directory: Path) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            raise RuntimeError("redis-server is not installed; run scripts/test-services.sh")
        self._binary = binary
        self._dir = directory
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self._proc: subprocess.Popen[bytes] | None = None
        self.start()

    def start(self) -> None:
        if self._proc is not None and self._proc.poll() is None:
            return
        args = [self._binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
        args += ["--dir", str(self._dir), "--daemonize", "no", "--loglevel", "warning"]
        self._proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        _wait_port(self.port, self._proc, "redis-server")

    def stop(self) -> None:
        _stop(self._proc)

    def restart(self) -> None:
        self.stop()
        self.start()

    def command(self, *parts: str) -> bytes:
        """Send one command in RESP and return the raw reply (enough for FLUSHALL, PING, DBSIZE)."""
        payload = f"*{len(parts)}\r\n".encode() + b"".join(
            f"${len(p.encode())}\r\n".encode() + p.encode() + b"\r\n" for p in parts
        )
        with socket.create_connection(("127.0.0.1", self.port), timeout=5) as sock:
            sock.sendall(payload)
            return sock.recv(65536)

    def flush(self) -> None:
        self.command("FLUSHALL")


class PostgresServer:
    """A private PostgreSQL cluster with a ``switchyard`` superuser trusted on loopback.

    PostgreSQL refuses to run as root, so as root the cluster belongs to the Debian package's ``postgres`` user.
    """

    def __init__(self) -> None:
        versions = sorted(_PG_BIN_ROOT.glob("*/bin/postgres")) if _PG_BIN_ROOT.exists() else []
        if not versions:
            raise RuntimeError("PostgreSQL is not installed; run scripts/test-services.sh")
        self._bin = versions[-1].parent
        # Not under pytest's tmp tree: that is private to root, and the server may run as ``postgres``.
        directory = Path(tempfile.mkdtemp(prefix="switchyard-pg-"))
        self._dir = directory
        self._data = directory / "data"
        self._socket_dir = directory / "sock"
        self._socket_dir.mkdir(parents=True, exist_ok=True)
        self._as_postgres = os.geteuid() == 0
        if self._as_postgres:
            shutil.chown(directory, "postgres", "postgres")
            shutil.chown(self._socket_dir, "postgres", "postgres")
        self.port = free_port()
        self._names = itertools.count(1)
        self._proc: subprocess.Popen[bytes] | None = None
        self._run([str(self._bin / "initdb"), "-D", str(self._data), "-U", "switchyard", "--auth=trust", "-E", "UTF8"])
        self.start()
        self._run([str(self._bin / "createdb"), *self._client_args(), "switchyard"])
        self.dsn = self.dsn_for("switchyard")

    def _prefix(self) -> list[str]:
        return ["runuser", "-u", "postgres", "--"] if self._as_postgres else []

    def _run(self, args: list[str]) -> None:
        done = subprocess.run([*self._prefix(), *args], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        if done.returncode != 0:
            raise RuntimeError(f"{Path(args[0]).name} failed: {done.stderr.strip()}")

    def _client_args(self) -> list[str]:
        return ["-h", "127.0.0.1", "-p", str(self.port), "-U", "switchyard"]

    def dsn_for(self, database: str) -> str:
        return f"postgresql://switchyard@127.0.0.1:{self.port}/{database}"

    def start(self) -> None:
        if self._proc is not None and self._proc.poll() is None:
            return
        # Durability settings off: these are throwaway clusters and the tests measure behaviour, not fsync.
        args = [str(self._bin / "postgres"), "-D", str(self._data), "-p", str(self.port), "-h", "127.0.0.1"]
        args += ["-k", str(self._socket_dir), "-c", "fsync=off", "-c", "synchronous_commit=off"]
        args += ["-c", "full_page_writes=off", "-c", "max_connections=200"]
        self._proc = subprocess.Popen([*self._prefix(), *args], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        _wait_port(self.port, self._proc, "postgres")
        self._wait_ready()

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            done = subprocess.run(
                [str(self._bin / "pg_isready"), *self._client_args(), "-d", "postgres"], capture_output=True
            )
            if done.returncode == 0:
                return
            time.sleep(0.1)
        raise RuntimeError("postgres did not become ready")

    def stop(self) -> None:
        """Fast shutdown: SIGTERM would be PostgreSQL's smart shutdown, which waits for pooled clients forever."""
        if self._proc is None or self._proc.poll() is not None:
            return
        subprocess.run(
            [*self._prefix(), str(self._bin / "pg_ctl"), "stop", "-D", str(self._data), "-m", "fast", "-w"],
            capture_output=True,
        )
        _stop(self._proc)

    def restart(self) -> None:
        self.stop()
        self.start()

    def remove(self) -> None:
        self.stop()
        shutil.rmtree(self._dir, ignore_errors=True)

    def fresh_database(self) -> str:
        """A new empty database; its DSN."""
        name = f"t{os.getpid()}_{next(self._names)}"
        self._run([str(self._bin / "createdb"), *self._client_args(), name])
        return self.dsn_for(name)

    def psql(self, database: str, sql: str) -> str:
        """Run SQL with psql and return its unaligned output (for assertions that bypass the gateway)."""
        done = subprocess.run(
            [str(self._bin / "psql"), *self._client_args(), "-d", database, "-At", "-c", sql],
            check=True,
            capture_output=True,
            text=True,
        )
        return done.stdout.strip()
