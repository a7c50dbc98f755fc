"""The Node.js Socket.IO reference (`loadtests/node/server.js`): installed by the bench itself
(`npm ci` from the committed lock, `npm install` without one) into loadtests/node/node_modules,
and started like HugMood's web processes: pinned, on loopback, with the same JWT secret and
database (its own schema there), and over two processes joined by @socket.io/redis-adapter on
the same Redis (its channels under the run's prefix)."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Callable

from .servers import HOST, ROOT

NODE_DIR = ROOT / "loadtests" / "node"
SCHEMA = "node_reference"


def install(say: Callable[[str], None]) -> str | None:
    """Make the reference runnable; returns None when it is, else why not (the bench then runs
    HugMood alone). npm runs only when node_modules is missing or older than the lock."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if not node or not npm:
        return "node and npm are not on PATH"
    lock = NODE_DIR / "package-lock.json"
    installed = NODE_DIR / "node_modules" / ".package-lock.json"  # npm's record of the tree
    wanted = lock if lock.exists() else NODE_DIR / "package.json"
    if installed.exists() and installed.stat().st_mtime >= wanted.stat().st_mtime:
        return None
    command = [npm, "ci" if lock.exists() else "install", "--no-audit", "--no-fund"]
    say(f"installing the Node reference: npm {command[1]} in {NODE_DIR}")
    try:
        done = subprocess.run(
            command, cwd=NODE_DIR, capture_output=True, text=True, timeout=300, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"npm failed: {exc}"
    if done.returncode:
        tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
        return f"npm exited with {done.returncode}: {' / '.join(tail)}"
    return None


def version() -> str:
    """`node --version` and the Socket.IO version installed, for the results file."""
    try:
        node = subprocess.run(
            ["node", "--version"], capture_output=True, text=True, timeout=10, check=True
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    pkg = NODE_DIR / "node_modules" / "socket.io" / "package.json"
    sio = "?"
    if pkg.exists():
        sio = json.loads(pkg.read_text()).get("version", "?")
    return f"node {node}, socket.io {sio}"


def environment(database_url: str, redis_url: str | None, prefix: str, secret: str) -> dict:
    """What server.js reads: the bench database, the JWT secret HugMood gets, and (for more
    than one process) the Redis the adapter joins them on."""
    env = {
        "HOST": HOST,
        "DATABASE_URL": database_url,
        "JWT_SECRET": secret,
        "NODE_SCHEMA": SCHEMA,
        "NODE_ENV": "production",
        "REDIS_KEY": f"{prefix}-node",
    }
    if redis_url:
        env["REDIS_URL"] = redis_url
    return env


def command(port: int) -> list[str]:
    """server.js reads its port from PORT, as `Server` sets it."""
    return [shutil.which("node") or "node", "server.js"]
