"""Exactly one push per event and device: two workers, a web process killed right after the
commit, a platform without credentials."""

from __future__ import annotations

import asyncio
import json
import signal

import httpx

from tests.conftest import ServerProcess, fake_ip
from tests.notify.conftest import WorkerProcess, push_env
from tests.notify.support import device, friends, hug, received


async def test_two_workers_push_each_event_once_per_device(
    api, stack, worker, apns, fcm, tmp_path
) -> None:
    second = WorkerProcess(stack, tmp_path / "second.log", **push_env(apns, fcm))
    try:
        sender, recipient = await friends(api)
        phone, tablet = await device(api, recipient), await device(api, recipient, "android")
        for _ in range(15):
            await hug(api, sender, recipient)
        await received(apns, phone, 15)
        await received(fcm, tablet, 15)
        await asyncio.sleep(1.5)
        assert len(apns.to(phone)) == 15 and len(fcm.to(tablet)) == 15
        seqs = sorted(int(r.body["seq"]) for r in apns.to(phone))
        assert seqs == list(range(1, 16))
    finally:
        await second.stop()
    ran = [
        line for process in (worker, second) for line in process.lines() if "deliver_push ●" in line
    ]
    assert len(ran) == 30  # each job ran once, on one of the two workers


async def test_web_process_killed_right_after_the_commit_still_pushes_once(
    api, stack, worker, apns
) -> None:
    sender, recipient = await friends(api)
    phone = await device(api, recipient)
    doomed = ServerProcess(stack)
    await doomed.wait_ready()
    async with httpx.AsyncClient(base_url=doomed.url, headers={"X-Forwarded-For": fake_ip()}) as c:
        sent = await hug(c, sender, recipient)
    doomed.stop(signal.SIGKILL)  # nothing after the commit runs: no publish, no post-commit step
    [pushed] = await received(apns, phone)
    assert pushed.body["id"] == sent["id"]
    await asyncio.sleep(1)
    assert len(apns.to(phone)) == 1


async def test_a_platform_without_credentials_is_skipped_not_crashed(
    api, stack, apns, fcm, tmp_path
) -> None:
    env = push_env(apns, fcm, APNS_KEY_FILE="", APNS_KEY_ID="")
    process = WorkerProcess(stack, tmp_path / "worker.log", **env)
    try:
        sender, recipient = await friends(api)
        phone, tablet = await device(api, recipient), await device(api, recipient, "android")
        await hug(api, sender, recipient)
        await received(fcm, tablet)
        await asyncio.sleep(0.5)
        assert apns.to(phone) == [] and process.proc.poll() is None
    finally:
        await process.stop()
    lines = [json.loads(line) for line in process.lines() if line.startswith("{")]
    skipped = [line for line in lines if line["msg"].startswith("APNs not configured")]
    assert len(skipped) == 1
    counters = next(line["counters"] for line in lines if line["msg"] == "push counters")
    assert counters['hugmood_push_skipped_total{reason="no_provider"}'] == 1
