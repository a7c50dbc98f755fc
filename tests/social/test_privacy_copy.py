"""Presence announcements read the owner's `show_activity_to` from a Redis copy the presence
script hands back (no database read per change). The copy must always say what the last
privacy change set: written after each change, never overwritten by an older refill, and read
from PostgreSQL again when it is missing."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest

from hugmood.delivery.rooms import audience_room
from hugmood.presence import status
from hugmood.services import Services
from hugmood.social import privacy
from tests.conftest import Recorder, Stack, bearer, open_services, register, uid


@pytest.fixture
async def svc(stack: Stack) -> AsyncIterator[tuple[Services, Recorder]]:
    recorder = Recorder()
    svc = await open_services(stack.settings(), recorder)
    yield svc, recorder
    await svc.close()


async def set_activity(api, session: dict, audience: str) -> None:
    body = {"allow_hugs_from": "friends", "show_mood_to": "friends", "show_activity_to": audience}
    response = await api.put("/me/privacy", json=body, headers=bearer(session))
    assert response.status_code == 200, response.text


async def announced_to(svc: Services, recorder: Recorder, owner: uuid.UUID, to: str) -> set:
    """The rooms a presence change of `owner` (one connection going `to`) was published to."""
    recorder.emitted.clear()
    await status.set_status(svc.ctx, owner, "copy-test", to)
    return {room for event, _, room in recorder.emitted if event == "presence.changed"}


async def test_announcements_follow_the_last_change_whatever_the_copy_went_through(
    api, svc
) -> None:
    svc, recorder = svc
    session = await register(api)
    owner = uuid.UUID(uid(session))
    copy = svc.ctx.keys.presence_audience(owner)
    everyone = {audience_room(owner, "friends"), audience_room(owner, "followers")}

    await set_activity(api, session, "everyone")
    assert (await svc.ctx.redis.get(copy)).endswith(b" everyone")
    assert await announced_to(svc, recorder, owner, "online") == everyone

    await set_activity(api, session, "nobody")
    assert await announced_to(svc, recorder, owner, "away") == set()

    # A reader that read the settings before the change refills late: the newer copy stays.
    await privacy._keep_copy(svc.ctx, owner, datetime.now(UTC) - timedelta(seconds=5), "everyone")
    assert (await svc.ctx.redis.get(copy)).endswith(b" nobody")
    assert await announced_to(svc, recorder, owner, "online") == set()

    # Lost (Redis restarted, or expired): read from PostgreSQL, and kept again.
    await svc.ctx.redis.delete(copy)
    assert await announced_to(svc, recorder, owner, "away") == set()
    assert (await svc.ctx.redis.get(copy)).endswith(b" nobody")
    await set_activity(api, session, "friends")
    assert await announced_to(svc, recorder, owner, "online") == {audience_room(owner, "friends")}
    await status.disconnected(svc.ctx, owner, "copy-test")
