"""The web processes under test, HugMood's started exactly as production starts them
(`python -m realtime --port N`) and the Node reference's (`node.py`), on loopback, pinned to
the cores they are given, with the load-test environment below."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]  # the repository: schema.sql, `python -m realtime`
HOST = "127.0.0.1"  # loopback only, always
SERVER_ENV = {
    "HUGMOOD_ENV": "production",
    "LOG_LEVEL": "WARNING",  # one JSON line per connect at INFO; see docs/benchmarks.md
    "RATE_SOCKET_EVENTS": "1000000000/60",
    "RATE_HUG_SEND": "1000000000/60",
    "RATE_HUG_REQUEST": "1000000000/60",
    "RATE_REGISTER_IP": "1000000000/60",  # for Locust against `--serve`
    "RATE_LOGIN_IP": "1000000000/60",
    "ACCESS_TOKEN_TTL_SECS": "7200",
}


def realtime_command(port: int) -> list[str]:
    """HugMood's web process, as production starts it."""
    return [
        sys.executable,
        "-m",
        "realtime",
        "--host",
        HOST,
        "--port",
        str(port),
        "--graceful-secs",
        "3",
    ]


class Server:
    """One web process: HugMood's as production runs it (`python -m realtime --port N`), or
    another `command` (the Node reference) answering `GET /ready` the same way."""

    def __init__(
        self,
        env: dict[str, str],
        cores: set[int] | None,
        log: Path,
        port: int = 0,
        command: Callable[[int], list[str]] = realtime_command,
        cwd: Path = ROOT,
    ) -> None:
        if not port:
            with socket.socket() as sock:
                sock.bind((HOST, 0))
                port = sock.getsockname()[1]
        self.port = port
        self.cores = cores
        self.log = log
        self.log_start = log.stat().st_size if log.exists() else 0  # later scenarios append
        self.proc = subprocess.Popen(
            command(self.port),
            cwd=cwd,
            env={**env, "PORT": str(self.port)},
            stdout=log.open("ab"),
            stderr=subprocess.STDOUT,
            preexec_fn=(lambda: os.sched_setaffinity(0, cores)) if cores else None,
        )
        self.wait_ready()

    @property
    def pid(self) -> int:
        return self.proc.pid

    def wait_ready(self, timeout: float = 30) -> None:
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited with {self.proc.returncode}; see {self.log}")
            try:
                with urllib.request.urlopen(f"http://{HOST}:{self.port}/ready", timeout=2) as r:
                    if r.status == 200:
                        return
            except OSError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"server not ready after {timeout:.0f}s; see {self.log}")

    def log_lines(self) -> list[str]:
        """What this process has logged so far: at LOG_LEVEL=WARNING, only warnings, errors
        and anything written to stderr outside the logger (a traceback)."""
        with self.log.open("rb") as f:
            f.seek(self.log_start)
            return [line.decode(errors="replace").rstrip() for line in f if line.strip()]

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
