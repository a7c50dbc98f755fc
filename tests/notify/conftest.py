"""Fixtures of the push tests: the fake providers (one each per run, reset per test) and a
worker process configured against them."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from tests.conftest import ROOT, Stack
from tests.notify.fakes import FakeApns, FakeFcm

# Short timings so that the flow tests take seconds: judged 1.5 s after the event.
PUSH_ENV = {
    "PUSH_GRACE_SECS": "1.5",
    "OUTBOX_POLL_SECS": "0.05",
    "PUSH_RETRY_BASE_SECS": "0.1",
    "PUSH_MAX_ATTEMPTS": "3",
}


@pytest.fixture(scope="session")
def fakes_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("push-fakes")


@pytest.fixture(scope="session")
def apns_server(fakes_dir: Path) -> Iterator[FakeApns]:
    server = FakeApns(fakes_dir)
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def fcm_server(fakes_dir: Path) -> Iterator[FakeFcm]:
    server = FakeFcm(fakes_dir)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def apns(apns_server: FakeApns) -> FakeApns:
    apns_server.reset()
    return apns_server


@pytest.fixture
def fcm(fcm_server: FakeFcm) -> FakeFcm:
    fcm_server.reset()
    return fcm_server


def push_env(apns: FakeApns, fcm: FakeFcm, **overrides: str) -> dict[str, str]:
    return {**PUSH_ENV, **apns.env(), **fcm.env(), "LOG_LEVEL": "INFO", **overrides}


class WorkerProcess:
    """`python -m workers`, as the Procfile runs it, logging to a file the test can read."""

    def __init__(self, stack: Stack, log: Path, **env: str) -> None:
        self.log = log
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "workers"],
            cwd=ROOT,
            env=stack.env(**env),
            stdout=log.open("w"),
            stderr=subprocess.STDOUT,
        )

    def lines(self) -> list[str]:
        return self.log.read_text().splitlines()

    async def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
        await asyncio.to_thread(self.proc.wait, 15)


@pytest.fixture
async def worker(
    stack: Stack, apns: FakeApns, fcm: FakeFcm, tmp_path: Path
) -> AsyncIterator[WorkerProcess]:
    process = WorkerProcess(stack, tmp_path / "worker.log", **push_env(apns, fcm))
    yield process
    await process.stop()
