"""A group hug's life across two web processes and a real worker: invitations, joins seen on the
other process, the start a lead time ahead, completion, cancel, expiry, refusals."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import pytest

from tests.conftest import Stack
from tests.group_hugs.support import (
    act,
    call,
    create,
    inbox_types,
    later,
    people,
    workers,
)
from tests.hugs.support import expect, nothing


@pytest.fixture(scope="module")
def worker(stack: Stack):
    with workers(stack, 1) as procs:
        yield procs


def at(text: str) -> datetime:
    return datetime.fromisoformat(text)


async def test_join_on_the_other_process_starts_it_once_a_lead_ahead_then_it_completes(
    nodes, connect, db, worker
) -> None:
    host, guest = await people(db, 2)
    a = await connect(nodes[0], host)
    b = await connect(nodes[1], guest)
    group = await create(a, [guest], duration_s=1)
    assert group["status"] == "PENDING" and group["participants"] == 1
    invited = await expect(b, "group_hug.invited")
    assert invited["seq"] >= 1 and invited["data"]["id"] == group["id"]
    assert invited["data"]["host"]["id"] == host["user"]["id"]

    joined = await act(b, "join", group)
    assert joined["ok"] and joined["group_hug"]["status"] == "ACTIVE"
    seen = await expect(a, "group_hug.joined")  # the creator is on the other process
    assert seen["data"]["user"]["id"] == guest["user"]["id"] and seen["data"]["participants"] == 2
    assert (await expect(b, "group_hug.joined"))["data"] == seen["data"]  # the room, joiner too
    started = [await expect(c, "group_hug.started") for c in (a, b)]
    starts_at = at(started[0]["data"]["starts_at"])
    lead = (starts_at - at(started[0]["at"])).total_seconds()
    assert 1.5 < lead <= 2.1  # GROUP_HUG_LEAD_SECS (2 s) ahead, in server time
    assert started[0]["data"] == started[1]["data"]
    assert {"seq"} <= started[1].keys()  # durable

    completed = [await expect(c, "group_hug.completed", timeout=8) for c in (a, b)]
    assert completed[0]["data"] == {"id": group["id"], "status": "COMPLETED"}
    assert at(completed[0]["at"]) >= at(started[0]["data"]["ends_at"])
    for session in (host, guest):
        assert (await inbox_types(db, session, group["id"]))[-2:] == [
            "group_hug.started",
            "group_hug.completed",
        ]
    assert await inbox_types(db, guest, group["id"]) == [
        "group_hug.invited",
        "group_hug.started",
        "group_hug.completed",
    ]
    over = await act(b, "join", group)
    assert over["ok"] is False and over["error"]["code"] == "conflict"


async def test_invitations_follow_the_hug_privacy_rules(nodes, connect, db) -> None:
    host, open_, closed, friends_only = await people(db, 4)
    for session, allow in ((closed, "nobody"), (friends_only, "friends")):
        await db.execute(
            "UPDATE privacy_settings SET allow_hugs_from = $2 WHERE user_id = $1",
            uuid.UUID(session["user"]["id"]),
            allow,
        )
    blocker = (await people(db, 1))[0]
    await db.execute(
        "INSERT INTO blocks (blocker_id, blocked_id) VALUES ($1, $2)",
        uuid.UUID(blocker["user"]["id"]),
        uuid.UUID(host["user"]["id"]),
    )
    a = await connect(nodes[0], host)
    before = await db.fetchval("SELECT count(*) FROM group_hugs")
    for refused, code in (
        (closed, "forbidden"),
        (friends_only, "forbidden"),
        (blocker, "not_found"),
    ):
        payload = {"name": "x", "invitees": [open_["user"]["id"], refused["user"]["id"]]}
        answer = await call(a, "group_hug:create", payload)
        assert answer["ok"] is False, answer
        assert answer["error"]["code"] == code and answer["error"]["field"] == "invitees[1]"
    missing = {"name": "x", "invitees": [str(uuid.uuid4())]}
    assert (await call(a, "group_hug:create", missing))["error"]["code"] == "not_found"
    assert await db.fetchval("SELECT count(*) FROM group_hugs") == before  # nothing half-written
    assert await inbox_types(db, open_, "") == []
    group = await create(a, [open_])
    assert group["participants"] == 1


@pytest.mark.parametrize(
    "payload, field",
    [
        ({"name": ""}, "name"),
        ({"name": "x" * 101}, "name"),
        ({"message": "x" * 501}, "message"),
        ({"min_participants": 1}, "min_participants"),
        ({"duration_s": 601}, "duration_s"),
        ({"scheduled_for": "2020-01-01T00:00:00Z"}, "scheduled_for"),
        ({"scheduled_for": 40 * 86400}, "scheduled_for"),
        ({"scheduled_for": 60, "expires_at": 30}, "expires_at"),
        ({"scheduled_for": "2030-01-01T00:00:00"}, "scheduled_for"),
        ({"invitees": ["not-a-uuid"]}, "invitees[0]"),
        ({"surprise": 1}, "surprise"),
    ],
)
async def test_bad_create_payloads_are_invalid_and_name_the_field(
    nodes, connect, db, payload: dict[str, Any], field: str
) -> None:
    host, guest = await people(db, 2)
    a = await connect(nodes[0], host)
    # Numbers are seconds from now, made when the test runs (not when it is collected).
    payload = {
        k: later(v) if isinstance(v, int) and k.endswith(("_for", "_at")) else v
        for k, v in payload.items()
    }
    answer = await call(a, "group_hug:create", {"name": "x", "invitees": []} | payload)
    assert answer["ok"] is False
    assert answer["error"]["code"] == "invalid" and answer["error"]["field"] == field, answer
    twice = {"name": "x", "invitees": [guest["user"]["id"]] * 2}
    assert (await call(a, "group_hug:create", twice))["error"]["code"] == "invalid"
    me = {"name": "x", "invitees": [host["user"]["id"]]}
    assert (await call(a, "group_hug:create", me))["error"]["code"] == "invalid"


async def test_illegal_transitions_are_refused(nodes, connect, db) -> None:
    host, guest, other, stranger = await people(db, 4)
    a, b, c, s = [
        await connect(nodes[i % 2], who) for i, who in enumerate((host, guest, other, stranger))
    ]
    group = await create(a, [guest, other], min_participants=3)

    def refused(answer: dict[str, Any], code: str) -> None:
        assert answer["ok"] is False and answer["error"]["code"] == code, answer

    refused(await act(s, "join", group), "forbidden")  # not invited
    refused(await act(b, "cancel", group), "forbidden")  # not the creator
    refused(await act(b, "leave", group), "conflict")  # not joined
    refused(await act(a, "leave", group), "conflict")  # the creator cancels instead
    squeeze = {"group_hug_id": group["id"], "intensity": 0.5}
    refused(await call(a, "group_hug:squeeze", squeeze), "conflict")  # not active yet
    refused(await call(b, "group_hug:squeeze", squeeze), "forbidden")  # not joined
    refused(await call(a, "group_hug:squeeze", squeeze | {"intensity": 2}), "invalid")
    unknown = {"group_hug_id": str(uuid.uuid4())}
    refused(await call(a, "group_hug:join", unknown), "not_found")

    assert (await act(b, "join", group))["group_hug"]["status"] == "PENDING"  # 2 of 3
    again = await act(b, "join", group)
    assert again["ok"] and again["group_hug"]["participants"] == 2  # joining twice: no change
    left = await act(b, "leave", group)
    assert left["ok"] and left["group_hug"]["participants"] == 1
    canceled = await act(a, "cancel", group)
    assert canceled["ok"] and canceled["group_hug"]["status"] == "CANCELED"
    assert (await expect(a, "group_hug.joined"))["data"]["participants"] == 2
    assert (await expect(a, "group_hug.left"))["data"]["participants"] == 1
    await expect(c, "group_hug.invited")
    for client in (a, c):  # everyone still involved hears it, once; who left does not
        assert (await expect(client, "group_hug.canceled"))["data"]["status"] == "CANCELED"
    refused(await act(a, "cancel", group), "conflict")
    refused(await act(c, "join", group), "conflict")
    await nothing(a)
    assert "group_hug.canceled" not in await inbox_types(db, guest, group["id"])
    assert await inbox_types(db, other, group["id"]) == ["group_hug.invited", "group_hug.canceled"]


async def test_an_unstarted_group_hug_expires_and_everyone_involved_hears_it(
    nodes, connect, db, worker
) -> None:
    host, guest = await people(db, 2)
    a = await connect(nodes[0], host)
    b = await connect(nodes[1], guest)
    group = await create(a, [guest], expires_at=later(1.0))
    await expect(b, "group_hug.invited")
    for client in (a, b):
        expired = await expect(client, "group_hug.expired", timeout=8)
        assert expired["data"] == {"id": group["id"], "status": "EXPIRED"} and "seq" in expired
    status = await db.fetchval(
        "SELECT status FROM group_hugs WHERE id = $1", uuid.UUID(group["id"])
    )
    assert status == "EXPIRED"


async def test_a_late_joiner_and_a_reconnecting_participant_get_the_state_from_sync(
    nodes, connect, db, worker
) -> None:
    host, guest, late = await people(db, 3)
    a = await connect(nodes[0], host)
    b = await connect(nodes[1], guest)
    group = await create(a, [guest, late], duration_s=60)
    await act(b, "join", group)
    await expect(a, "group_hug.joined")
    await expect(a, "group_hug.started")

    c = await connect(nodes[1], late)
    answer = await call(c, "sync", {"since": 0})
    [state] = [g for g in answer["snapshot"]["group_hugs"] if g["id"] == group["id"]]
    assert state["status"] == "ACTIVE" and state["me"] == "INVITED"
    assert state["participants"] == 2 and 55 < state["remaining_s"] <= 62
    assert state["starts_at"] is not None
    assert (await act(c, "join", group))["group_hug"]["participants"] == 3
    assert (await expect(c, "group_hug.joined"))["data"]["participants"] == 3
    started = await expect(c, "group_hug.started")  # its own durable copy
    assert started["data"]["starts_at"] == state["starts_at"]

    # A reconnecting participant is seated in the room again: it hears the next join.
    await b.close()
    b2 = await connect(nodes[0], guest)
    [again] = [g for g in (await call(b2, "sync", {"since": 0}))["snapshot"]["group_hugs"]]
    assert again["id"] == group["id"] and again["me"] == "JOINED" and again["participants"] == 3
    left = await act(c, "leave", group)
    assert left["ok"]
    seen = await expect(b2, "group_hug.left")
    assert seen["data"]["participants"] == 2 and seen["data"]["user"]["id"] == late["user"]["id"]
