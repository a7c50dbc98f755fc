"""APNs through aioapns: token auth with a .p8 key, HTTP/2 with many streams per connection.

aioapns takes its host from the protocol class (`APNS_SERVER`, `APNS_PORT`); `APNS_ENDPOINT`
swaps in a subclass with another host, for a proxy or a test's fake, and `APNS_CA_FILE` adds a
CA to trust. Answers (Apple's "Handling notification responses"): 410 and 400 `BadDeviceToken`
delete the token; `DeviceTokenNotForTopic`, `TopicDisallowed` and 403 (our provider token) are
configuration errors; 429 and 5xx are retried; any other 4xx is permanent.
"""

from __future__ import annotations

import asyncio
import ssl
import uuid
from pathlib import Path

from aioapns import APNs, NotificationRequest, PushType
from aioapns.connection import APNsTLSClientProtocol
from aioapns.exceptions import ConnectionClosed, ConnectionError, MaxAttemptsExceeded

from hugmood.core.settings import Settings
from hugmood.notify.models import Notification
from hugmood.notify.provider import Verdict, record, settle

UNREGISTERED = {"BadDeviceToken", "Unregistered", "ExpiredToken"}
CONFIGURATION = {"DeviceTokenNotForTopic", "TopicDisallowed", "BadTopic", "MissingTopic"}
CONNECTIONS = 4  # HTTP/2 connections; each carries up to 1,000 concurrent streams
_DOWN = (ConnectionError, ConnectionClosed, MaxAttemptsExceeded, OSError, asyncio.TimeoutError)


def configured(settings: Settings) -> bool:
    return bool(
        (settings.apns_key or settings.apns_key_file)
        and settings.apns_key_id
        and settings.apns_team_id
        and settings.apns_topic
    )


def classify(status: str, reason: str | None) -> Verdict:
    if status == "200":
        return Verdict.SENT
    if status == "410" or reason in UNREGISTERED:
        return Verdict.UNREGISTERED
    if status == "403" or reason in CONFIGURATION:
        return Verdict.CONFIG
    if status == "429" or status.startswith("5"):
        return Verdict.RETRY
    return Verdict.PERMANENT


def payload(note: Notification) -> dict:
    return {
        "aps": {
            "alert": {"title": note.title, "body": note.body},
            "badge": note.badge,
            "sound": "default",
            "thread-id": note.collapse_id,
        },
        **note.data,
    }


async def _ignore(request: NotificationRequest, result: object) -> None:
    """aioapns logs every refusal itself unless given this; `record` does it once instead."""


class ApnsProvider:
    name = "apns"

    def __init__(self, settings: Settings) -> None:
        context = ssl.create_default_context(cafile=settings.apns_ca_file or None)
        context.set_alpn_protocols(["h2"])
        key = settings.apns_key or Path(settings.apns_key_file).read_text()
        self._client = APNs(
            key=key,
            key_id=settings.apns_key_id,
            team_id=settings.apns_team_id,
            topic=settings.apns_topic,
            use_sandbox=settings.apns_sandbox,
            ssl_context=context,
            max_connections=CONNECTIONS,
            max_connection_attempts=2,
            err_func=_ignore,
        )
        if settings.apns_endpoint:
            host, _, port = settings.apns_endpoint.rpartition(":")
            self._client.pool.protocol_class = type(
                "EndpointProtocol",
                (APNsTLSClientProtocol,),
                {"APNS_SERVER": host, "APNS_PORT": int(port)},
            )
        self._slots = asyncio.Semaphore(settings.push_max_in_flight)

    async def _one(self, note: Notification, token: str) -> tuple[Verdict, str]:
        request = NotificationRequest(
            device_token=token,
            message=payload(note),
            notification_id=str(uuid.uuid4()),
            time_to_live=note.ttl_secs,
            priority=10 if note.priority == "high" else 5,
            collapse_key=note.collapse_id,
            push_type=PushType.ALERT if note.push_type == "alert" else PushType.BACKGROUND,
        )
        async with self._slots:
            try:
                result = await self._client.send_notification(request)
            except _DOWN as exc:
                record(self.name, Verdict.RETRY, type(exc).__name__)
                return Verdict.RETRY, type(exc).__name__
        reason = result.description or result.status
        verdict = classify(result.status, result.description)
        record(self.name, verdict, reason)
        return verdict, reason

    async def send(self, note: Notification, tokens: list[str]) -> list[str]:
        outcomes = await asyncio.gather(*(self._one(note, token) for token in tokens))
        return settle(tokens, outcomes)

    async def close(self) -> None:
        self._client.pool.close()
