"""FCM HTTP v1 through firebase-admin's `send_each_async` (httpx, HTTP/2), up to 500 messages
per call: concurrent pushes are gathered into one call by a `GroupCommit`, which runs one call
at a time, so at most `min(500, PUSH_MAX_IN_FLIGHT)` requests are in flight.

Two private attributes of firebase-admin's messaging service are set, because it offers no
option for them: its URL when `FCM_ENDPOINT` names another host (a test's fake; the OAuth token
endpoint comes from the service account's own `token_uri`), and its httpx client without the
library's internal retries, so that ours (bounded, honouring Retry-After) are the only ones.

Answers: `UNREGISTERED` (404) deletes the token; 401, 403 and `SENDER_ID_MISMATCH` are
configuration errors; 429, 5xx and network failures are retried; any other 4xx is permanent.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
from pathlib import Path

import firebase_admin
import google.auth.transport.requests
from firebase_admin import _http_client, credentials, exceptions, messaging
from firebase_admin._retry import HttpxRetry

from hugmood.core.batching import GroupCommit
from hugmood.core.errors import AppError
from hugmood.core.settings import Settings
from hugmood.notify.models import Notification
from hugmood.notify.provider import Verdict, record, settle

FCM_BATCH_MAX = 500  # send_each_async's limit
HTTP_TIMEOUT_SECS = 30
BATCH_DEADLINE_SECS = 60  # a push waiting this long for its batch is retried later
_apps = itertools.count()
log = logging.getLogger("hugmood.push")


def configured(settings: Settings) -> bool:
    return bool(settings.fcm_credentials or settings.fcm_credentials_file)


def classify(error: exceptions.FirebaseError | None) -> Verdict:
    if error is None:
        return Verdict.SENT
    if isinstance(error, messaging.UnregisteredError):
        return Verdict.UNREGISTERED
    status = error.http_response.status_code if error.http_response is not None else None
    if isinstance(error, messaging.SenderIdMismatchError) or status in (401, 403):
        return Verdict.CONFIG
    if status is None or status == 429 or status >= 500:
        return Verdict.RETRY
    return Verdict.PERMANENT


def retry_after(error: exceptions.FirebaseError | None) -> float | None:
    response = getattr(error, "http_response", None)
    value = response.headers.get("retry-after") if response is not None else None
    return float(value) if value and value.strip().isdigit() else None


def message(note: Notification, token: str) -> messaging.Message:
    return messaging.Message(
        token=token,
        notification=messaging.Notification(title=note.title, body=note.body),
        data=note.data,
        android=messaging.AndroidConfig(
            collapse_key=note.collapse_id,
            priority=note.priority,
            ttl=note.ttl_secs,
            notification=messaging.AndroidNotification(
                tag=note.collapse_id, notification_count=note.badge
            ),
        ),
    )


class FcmProvider:
    name = "fcm"

    def __init__(self, settings: Settings) -> None:
        info = json.loads(
            settings.fcm_credentials or Path(settings.fcm_credentials_file).read_text()
        )
        self._credential = credentials.Certificate(info)
        self._app = firebase_admin.initialize_app(
            self._credential, {"httpTimeout": HTTP_TIMEOUT_SECS}, name=f"hugmood-{next(_apps)}"
        )
        service = messaging._get_messaging_service(self._app)
        if settings.fcm_endpoint:
            project = info["project_id"]
            service._fcm_url = f"{settings.fcm_endpoint}/v1/projects/{project}/messages:send"
        service._async_client = _http_client.HttpxAsyncClient(
            credential=self._credential.get_credential(),
            retry_config=HttpxRetry(max_retries=0),
            timeout=HTTP_TIMEOUT_SECS,
        )
        self._service = service
        self._batches: GroupCommit[messaging.Message, messaging.SendResponse] = GroupCommit(
            self._send_batch,
            min(FCM_BATCH_MAX, settings.push_max_in_flight),
            max_queued=100_000,
            deadline_secs=BATCH_DEADLINE_SECS,
        )

    async def start(self) -> None:
        """Fetch the first OAuth token now: google-auth refreshes it with blocking requests, so
        the worker pays that at start-up, not inside its first pushes (then hourly)."""
        request = google.auth.transport.requests.Request()
        try:
            await asyncio.to_thread(self._credential.get_credential().refresh, request)
        except Exception as exc:  # the token endpoint is down: the first push tries again
            log.warning("FCM token not fetched at start-up", extra={"error": repr(exc)})

    async def _send_batch(self, messages: list[messaging.Message], answer) -> None:
        batch = await messaging.send_each_async(messages, app=self._app)
        answer(list(batch.responses))

    async def _one(self, note: Notification, token: str) -> tuple[Verdict, str, float | None]:
        try:
            response = await self._batches.submit(message(note, token))
        except AppError as exc:  # the batch queue is full or too slow: later
            record(self.name, Verdict.RETRY, exc.code)
            return Verdict.RETRY, exc.code, None
        error = response.exception
        verdict = classify(error)
        reason = getattr(error, "code", None) or type(error).__name__ if error else "ok"
        record(self.name, verdict, reason)
        return verdict, reason, retry_after(error)

    async def send(self, note: Notification, tokens: list[str]) -> list[str]:
        outcomes = await asyncio.gather(*(self._one(note, token) for token in tokens))
        waits = [wait for _, _, wait in outcomes if wait is not None]
        return settle(tokens, [(v, r) for v, r, _ in outcomes], max(waits, default=None))

    async def close(self) -> None:
        await self._batches.close()
        # Not firebase_admin.delete_app: it closes this client with asyncio.run(), which cannot
        # run inside the worker's loop. The app object stays registered until the process ends.
        await self._service._async_client.aclose()
