"""What the push flow tests share: people who may hug each other, their devices, hugs, and
waiting on what the fake providers received."""

from __future__ import annotations

import asyncio
import secrets
import uuid
from typing import Any

import httpx

from tests.conftest import bearer, follow, register, until
from tests.notify.fakes import Received

GRACE_SECS = 1.5  # PUSH_GRACE_SECS of the flow tests' worker


async def friends(api: httpx.AsyncClient) -> tuple[dict[str, Any], dict[str, Any]]:
    sender, recipient = await register(api), await register(api)
    await follow(api, sender, recipient)
    await follow(api, recipient, sender)
    return sender, recipient


async def with_phone(api: httpx.AsyncClient) -> tuple[dict, dict, str]:
    """A sender, a recipient who is their friend, and the recipient's iPhone token."""
    sender, recipient = await friends(api)
    return sender, recipient, await device(api, recipient)


async def device(api: httpx.AsyncClient, session: dict[str, Any], platform: str = "ios", **more):
    token = secrets.token_hex(32) if platform == "ios" else f"fcm:{secrets.token_urlsafe(60)}"
    body = {"platform": platform, "token": token, **more}
    response = await api.post("/devices", json=body, headers=bearer(session))
    assert response.status_code == 201, response.text
    return token


async def hug(
    api: httpx.AsyncClient, sender: dict[str, Any], recipient: dict[str, Any], message: str = ""
) -> dict[str, Any]:
    body = {"to": recipient["user"]["id"], "type": "warm", "client_id": uuid.uuid4().hex}
    response = await api.post(
        "/hugs", json=body | ({"message": message} if message else {}), headers=bearer(sender)
    )
    assert response.status_code == 201, response.text
    return response.json()["hug"]


async def received(fake: Any, token: str, count: int = 1, timeout: float = 15) -> list[Received]:
    """What `fake` received for `token` once it has `count` requests."""
    await until(lambda: len(fake.to(token)) >= count, timeout)
    return fake.to(token)


class Control:
    """Someone offline with a phone: a hug to them, sent after the one under test, is pushed
    once the worker is up and past that one's grace period."""

    def __init__(self, api: httpx.AsyncClient, fake: Any) -> None:
        self.api, self.fake = api, fake

    @classmethod
    async def start(cls, api: httpx.AsyncClient, fake: Any) -> Control:
        control = cls(api, fake)
        control.sender, control.recipient, control.token = await with_phone(api)
        return control

    async def none_for(self, token: str) -> None:
        """Assert `token` got no push: judged after the control's push arrived."""
        await hug(self.api, self.sender, self.recipient)
        await received(self.fake, self.token)
        await asyncio.sleep(0.3)
        assert self.fake.to(token) == []
