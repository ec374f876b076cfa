"""Process, /proc and loopback-HTTP helpers shared by the benchmark scripts.

Every process the harness starts goes through :class:`Processes`, which starts it in its own session (so its
process group id is its pid), pinned to one CPU with ``taskset``, and kills the whole group on exit.
"""

from __future__ import annotations

import http.client
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

LOOPBACK = "127.0.0.1"
CLK_TCK = os.sysconf("SC_CLK_TCK")


def log(message: str) -> None:
    print(f"[bench] {message}", file=sys.stderr, flush=True)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOOPBACK, 0))
        return int(sock.getsockname()[1])


def cpus() -> tuple[int, int]:
    """(gateway CPU, load CPU): 0 and 1, or 0 and 0 on a one-CPU machine."""
    available = sorted(os.sched_getaffinity(0))
    if len(available) >= 2:
        return available[0], available[1]
    log("only one CPU available: gateway, nginx and wrk share it, numbers are not comparable to the targets")
    return available[0], available[0]


# --- system tools ---------------------------------------------------------------------------------------------


def nginx_binary() -> str | None:
    found = shutil.which("nginx")
    if found:
        return found
    return "/usr/sbin/nginx" if os.access("/usr/sbin/nginx", os.X_OK) else None


def ensure_system_tools() -> None:
    """Install nginx-light and wrk from Debian when missing (apt-get update only if the first try fails)."""
    missing = [pkg for pkg, ok in (("nginx-light", nginx_binary()), ("wrk", shutil.which("wrk"))) if not ok]
    if not missing:
        return
    sudo = [] if os.geteuid() == 0 else ["sudo", "-n"]
    install = [*sudo, "apt-get", "install", "-y", "-q", *missing]
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    log(f"installing {' '.join(missing)} with apt-get")
    if subprocess.run(install, env=env, timeout=900, check=False).returncode != 0:
        log("apt-get install failed; running apt-get update and trying once more")
        subprocess.run([*sudo, "apt-get", "update", "-q"], env=env, timeout=900, check=False)
        subprocess.run(install, env=env, timeout=900, check=True)
    if not nginx_binary() or not shutil.which("wrk"):
        raise RuntimeError("nginx or wrk still missing after apt-get install")


# --- /proc ----------------------------------------------------------------------------------------------------


def _stat_fields(pid: int) -> list[str] | None:
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name (field 2) may contain spaces and parentheses: split after the last ')'.
    return raw[raw.rindex(")") + 2 :].split()


def process_tree(root: int) -> list[int]:
    """``root`` and all its live descendants."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        fields = _stat_fields(int(entry))
        if fields is not None:
            children.setdefault(int(fields[1]), []).append(int(entry))
    tree: list[int] = []
    todo = [root]
    while todo and len(tree) < 10_000:
        pid = todo.pop()
        tree.append(pid)
        todo.extend(children.get(pid, []))
    return tree


def cpu_seconds(root: int) -> float:
    """utime+stime of the live tree, plus cutime+cstime (children that already exited and were waited for)."""
    ticks = 0
    for pid in process_tree(root):
        fields = _stat_fields(pid)
        if fields is not None:
            # After the command name: state=0, ppid=1, ... utime=11, stime=12, cutime=13, cstime=14.
            ticks += sum(int(fields[i]) for i in (11, 12, 13, 14))
    return ticks / CLK_TCK


def cpu_busy_seconds(cpu: int) -> float:
    """Non-idle time of one CPU since boot (from /proc/stat), for spotting other load on the machine."""
    for line in Path("/proc/stat").read_text().splitlines():
        if line.startswith(f"cpu{cpu} "):
            values = [int(v) for v in line.split()[1:]]
            return (sum(values[:8]) - values[3] - values[4]) / CLK_TCK  # all but idle and iowait (no guest)
    return 0.0


def _status_kb(pid: int, key: str) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return 0


def rss_mb(root: int, key: str = "VmRSS") -> float:
    """Sum of ``key`` (VmRSS now, or VmHWM: the peak) over the process tree, in MB (10^6 bytes)."""
    return sum(_status_kb(pid, key) for pid in process_tree(root)) * 1024 / 1e6


# --- processes --------------------------------------------------------------------------------------------------


@dataclass
class Managed:
    name: str
    popen: subprocess.Popen[bytes]
    log_path: Path
    started_at: float  # time.monotonic() just before the spawn

    @property
    def pid(self) -> int:
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    def tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


@dataclass
class Processes:
    """Starts pinned processes in their own process groups and kills every group on exit (also on errors)."""

    workdir: Path
    started: list[Managed] = field(default_factory=list)

    def spawn(self, name: str, argv: Sequence[str], cpu: int, env: Mapping[str, str] | None = None) -> Managed:
        log_path = self.workdir / f"{name}.log"
        started_at = time.monotonic()
        with log_path.open("wb") as out:
            popen = subprocess.Popen(
                ["taskset", "-c", str(cpu), *argv],
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                env=dict(env) if env is not None else None,
                cwd=self.workdir,
                start_new_session=True,
            )
        managed = Managed(name, popen, log_path, started_at)
        self.started.append(managed)
        return managed

    def stop(self, managed: Managed, grace_s: float = 10.0) -> None:
        if managed in self.started:
            self.started.remove(managed)
        _kill_group(managed.popen, grace_s)

    def __enter__(self) -> Processes:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        while self.started:
            self.stop(self.started[-1], grace_s=5.0)


def _kill_group(popen: subprocess.Popen[bytes], grace_s: float) -> None:
    for sig, wait_s in ((signal.SIGTERM, grace_s), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(popen.pid, sig)
        except ProcessLookupError:
            pass
        try:
            popen.wait(timeout=wait_s)
        except subprocess.TimeoutExpired:
            continue
        # The leader is gone; make sure nothing it forked is left in the group.
        try:
            os.killpg(popen.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        return


def install_signal_handlers() -> None:
    """Turn SIGTERM/SIGHUP into an exception so that every ``finally`` and ``__exit__`` runs."""

    def _raise(signum: int, _frame: object) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGINT, signal.default_int_handler)  # also when started with SIGINT ignored
    signal.signal(signal.SIGTERM, _raise)
    signal.signal(signal.SIGHUP, _raise)


# --- loopback HTTP ----------------------------------------------------------------------------------------------


def http_request(
    port: int, method: str, path: str, body: bytes | None = None, timeout: float = 5.0
) -> tuple[int, bytes]:
    """One request to 127.0.0.1:``port``; returns (status, body). Raises OSError when nothing answers."""
    conn = http.client.HTTPConnection(LOOPBACK, port, timeout=timeout)
    try:
        headers = {"Content-Type": "application/json"} if body is not None else {}
        conn.request(method, path, body=body, headers=headers)
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def wait_until(
    check: Callable[[], bool], timeout_s: float, what: str, proc: Managed | None = None, interval_s: float = 0.01
) -> float:
    """Poll ``check`` until it returns True; returns the monotonic time it did. Bounded by ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    last_error = ""
    while time.monotonic() < deadline:
        if proc is not None and not proc.alive():
            raise RuntimeError(
                f"{proc.name} exited with {proc.popen.returncode} while waiting for {what}:\n{proc.tail()}"
            )
        try:
            if check():
                return time.monotonic()
        except (OSError, http.client.HTTPException) as exc:
            last_error = f"{type(exc).__name__}: {exc}"
        time.sleep(interval_s)
    tail = f"\n{proc.tail()}" if proc is not None else ""
    raise TimeoutError(f"timed out after {timeout_s:.0f}s waiting for {what} {last_error}{tail}")
