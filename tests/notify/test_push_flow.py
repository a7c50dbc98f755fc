"""End to end: a hug committed by a web process, the worker's relay and job, the real client
libraries, the fake providers. Who gets a push, and when it is held back."""

from __future__ import annotations

import asyncio
import uuid
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from tests.conftest import bearer, uid
from tests.notify.fakes import APNS_TOPIC, Answer
from tests.notify.support import Control, device, friends, hug, received, with_phone


async def _seq_of(db, user: dict, hug_id: str) -> int:
    return await db.fetchval(
        "SELECT seq FROM inbox_events WHERE user_id = $1 AND type = 'hug.received' "
        "AND payload->>'id' = $2",
        uuid.UUID(uid(user)),
        hug_id,
    )


async def test_offline_recipient_gets_one_push_per_device(api, db, worker, apns, fcm) -> None:
    sender, recipient = await friends(api)
    await api.patch("/me", json={"display_name": "Alice"}, headers=bearer(sender))
    phone = await device(api, recipient, "ios")
    tablet = await device(api, recipient, "android", locale="fr-FR")
    sent = await hug(api, sender, recipient, "thinking of you")
    seq = await _seq_of(db, recipient, sent["id"])
    [ios] = await received(apns, phone)
    await received(fcm, tablet)
    await asyncio.sleep(0.5)
    assert len(apns.to(phone)) == 1
    [android] = fcm.to(tablet)
    assert ios.headers["apns-topic"] == APNS_TOPIC
    assert ios.headers["apns-collapse-id"] == f"hugs:{uid(sender)}"
    assert ios.body["aps"]["alert"] == {"title": "Alice sent you a hug", "body": "thinking of you"}
    assert ios.body["aps"]["badge"] == 1  # one unread hug
    assert ios.body["seq"] == str(seq) and ios.body["type"] == "hug.received"
    assert ios.body["id"] == sent["id"]
    message = android.body["message"]
    assert message["notification"]["title"] == "Alice vous a envoyé un câlin"  # its locale
    assert message["data"]["seq"] == str(seq)
    committed = await db.fetchval(
        "SELECT created_at FROM inbox_events WHERE user_id = $1 AND seq = $2",
        uuid.UUID(uid(recipient)),
        seq,
    )
    assert ios.at - committed.timestamp() >= 1.5  # judged after the grace period


async def test_online_recipient_gets_no_push(api, worker, apns, connect, nodes) -> None:
    sender, recipient, phone = await with_phone(api)
    control = await Control.start(api, apns)
    await connect(nodes[1], recipient)
    await hug(api, sender, recipient)
    await control.none_for(phone)


async def test_reconnecting_within_the_grace_period_gets_no_push(
    api, worker, apns, connect, nodes
) -> None:
    sender, recipient, phone = await with_phone(api)
    control = await Control.start(api, apns)
    await hug(api, sender, recipient)
    await asyncio.sleep(0.3)
    await connect(nodes[0], recipient)  # back before the job is judged
    await control.none_for(phone)


async def test_an_event_acked_before_the_job_runs_is_not_pushed(
    api, worker, apns, connect, nodes
) -> None:
    sender, recipient, phone = await with_phone(api)
    control = await Control.start(api, apns)
    await hug(api, sender, recipient)
    client = await connect(nodes[0], recipient)
    answer = await client.sio.call("sync", {"since": 0}, timeout=5)
    head = answer["head"]
    assert await client.sio.call("ack", {"seq": head}, timeout=5) == {"ok": True}
    await client.close()  # offline again when the job runs, but the phone has the event
    await control.none_for(phone)


async def test_dnd_holds_pushes_back(api, worker, apns, connect, nodes) -> None:
    sender, recipient, phone = await with_phone(api)
    client = await connect(nodes[0], recipient)
    assert await client.sio.call("presence:set", {"status": "dnd"}, timeout=5) == {"ok": True}
    control = await Control.start(api, apns)
    await hug(api, sender, recipient)
    await control.none_for(phone)


async def test_quiet_hours_in_the_users_time_zone_hold_pushes_back(api, worker, apns) -> None:
    sender, recipient, phone = await with_phone(api)
    zone = "Asia/Tokyo"
    assert (await api.patch("/me", json={"time_zone": zone}, headers=bearer(recipient))).is_success
    local = datetime.now(ZoneInfo(zone))
    quiet = {
        "start": (local - timedelta(hours=1)).strftime("%H:%M"),
        "end": (local + timedelta(hours=1)).strftime("%H:%M"),
    }
    put = await api.put("/me/notifications", json={"quiet_hours": quiet}, headers=bearer(recipient))
    assert put.status_code == 200
    control = await Control.start(api, apns)
    await hug(api, sender, recipient)
    await control.none_for(phone)
    # Outside them (the same hours shifted away from now), pushes flow again.
    later = {"start": quiet["end"], "end": (local + timedelta(hours=2)).strftime("%H:%M")}
    await api.put("/me/notifications", json={"quiet_hours": later}, headers=bearer(recipient))
    await hug(api, sender, recipient)
    await received(apns, phone)


async def test_a_muted_category_is_not_pushed_and_others_are(
    api, worker, apns, connect, nodes
) -> None:
    sender, recipient, phone = await with_phone(api)
    body = {"hugs": False}
    assert (await api.put("/me/notifications", json=body, headers=bearer(recipient))).is_success
    control = await Control.start(api, apns)
    await hug(api, sender, recipient)
    await control.none_for(phone)
    asking = await connect(nodes[0], sender)
    ask = {"to": [uid(recipient)], "message": "rough day"}
    assert (await asking.sio.call("hug:request", ask, timeout=5))["ok"]
    [pushed] = await received(apns, phone)
    assert pushed.body["type"] == "hug.requested"
    assert pushed.body["aps"]["alert"]["body"] == "rough day"


async def test_unregistered_token_is_deleted(api, db, worker, apns) -> None:
    sender, recipient, phone = await with_phone(api)
    apns.plan(phone, Answer(410, "Unregistered"))
    await hug(api, sender, recipient)
    await received(apns, phone)
    await asyncio.sleep(0.3)
    assert await db.fetchval("SELECT count(*) FROM devices WHERE token = $1", phone) == 0


async def test_transient_failures_are_retried_until_one_gets_through(
    api, db, worker, apns, fcm
) -> None:
    sender, recipient, phone = await with_phone(api)
    tablet = await device(api, recipient, "android")
    apns.plan(phone, Answer(503, "ServiceUnavailable"), Answer(429, "TooManyRequests"))
    fcm.plan(tablet, Answer(500, ""), Answer(429, "QUOTA_EXCEEDED", {"retry-after": "1"}))
    await hug(api, sender, recipient)
    await received(apns, phone, 3)
    tries = await received(fcm, tablet, 3)
    assert tries[2].at - tries[1].at >= 1  # Retry-After honoured
    await asyncio.sleep(1)
    assert len(apns.to(phone)) == 3 and len(fcm.to(tablet)) == 3  # the third succeeded: done
    assert (
        await db.fetchval(
            "SELECT count(*) FROM devices WHERE user_id = $1", uuid.UUID(uid(recipient))
        )
        == 2
    )


async def test_retries_are_bounded_and_permanent_failures_not_retried(api, worker, apns) -> None:
    sender, recipient = await friends(api)
    failing, refused = await device(api, recipient), await device(api, recipient)
    apns.plan(failing, *[Answer(500, "InternalServerError")] * 10)
    apns.plan(refused, Answer(400, "PayloadTooLarge"))
    await hug(api, sender, recipient)
    await received(apns, failing, 3)  # PUSH_MAX_ATTEMPTS
    await asyncio.sleep(2)
    assert len(apns.to(failing)) == 3 and len(apns.to(refused)) == 1


async def test_group_hug_invitation_is_pushed_with_its_own_collapse_id(
    api, worker, apns, connect, nodes
) -> None:
    host, invitee, phone = await with_phone(api)
    await api.patch("/me", json={"display_name": "Bea"}, headers=bearer(host))
    hosting = await connect(nodes[0], host)
    payload = {"name": "Friday hug", "invitees": [uid(invitee)], "message": "5 pm, all of us"}
    answer = await hosting.sio.call("group_hug:create", payload, timeout=10)
    assert answer["ok"], answer
    [pushed] = await received(apns, phone)
    assert pushed.body["type"] == "group_hug.invited"
    assert pushed.body["aps"]["alert"] == {
        "title": "Bea invited you to a group hug",
        "body": "5 pm, all of us",
    }
    assert pushed.headers["apns-collapse-id"] == f"group_hug:{answer['group_hug']['id']}"
    assert pushed.body["id"] == answer["group_hug"]["id"]
