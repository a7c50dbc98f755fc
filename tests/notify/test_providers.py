"""The providers through the real client libraries (aioapns, firebase-admin) against the local
fakes: what Apple and Google receive, and every class of answer."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from hugmood.core.settings import Settings
from hugmood.notify import metrics
from hugmood.notify.apns import ApnsProvider
from hugmood.notify.fcm import FcmProvider
from hugmood.notify.models import Notification
from hugmood.notify.provider import TryAgain
from tests.conftest import Stack
from tests.notify.conftest import push_env
from tests.notify.fakes import APNS_KEY_ID, APNS_TEAM_ID, APNS_TOPIC, FCM_PROJECT, Answer

NOTE = Notification(
    title="alice sent you a hug",
    body="thinking of you",
    badge=3,
    collapse_id="hugs:alice",
    data={"type": "hug.received", "seq": "7", "id": "h1"},
    ttl_secs=3600,
)


def _settings(stack: Stack, apns, fcm, **env: str) -> Settings:
    return stack.settings(**push_env(apns, fcm, **env))


@pytest.fixture
async def apns_provider(stack: Stack, apns, fcm) -> AsyncIterator[ApnsProvider]:
    provider = ApnsProvider(_settings(stack, apns, fcm))
    yield provider
    await provider.close()


@pytest.fixture
async def fcm_provider(stack: Stack, apns, fcm) -> AsyncIterator[FcmProvider]:
    provider = FcmProvider(_settings(stack, apns, fcm))
    await provider.start()
    yield provider
    await provider.close()


async def test_apns_request_carries_the_token_auth_headers_and_payload(apns, apns_provider):
    assert await apns_provider.send(NOTE, ["a1b2"]) == []
    [got] = apns.received
    assert got.path == "/3/device/a1b2"
    headers = got.headers
    assert headers["apns-topic"] == APNS_TOPIC
    assert headers["apns-push-type"] == "alert"
    assert headers["apns-priority"] == "10"
    assert headers["apns-collapse-id"] == "hugs:alice"
    assert 3500 < int(headers["apns-expiration"]) - got.at <= 3600
    header, claims = apns.claims(got)
    assert header["alg"] == "ES256" and header["kid"] == APNS_KEY_ID
    assert claims["iss"] == APNS_TEAM_ID and abs(claims["iat"] - got.at) < 60
    assert got.body == {
        "aps": {
            "alert": {"title": "alice sent you a hug", "body": "thinking of you"},
            "badge": 3,
            "sound": "default",
            "thread-id": "hugs:alice",
        },
        "type": "hug.received",
        "seq": "7",
        "id": "h1",
    }


@pytest.mark.parametrize(
    ("answer", "deleted"),
    [
        (Answer(410, "Unregistered"), True),
        (Answer(400, "BadDeviceToken"), True),
        (Answer(400, "DeviceTokenNotForTopic"), False),
        (Answer(400, "TopicDisallowed"), False),
        (Answer(403, "InvalidProviderToken"), False),
        (Answer(400, "PayloadEmpty"), False),
    ],
)
async def test_apns_final_answers(apns, apns_provider, answer, deleted):
    apns.plan("tok", answer)
    assert await apns_provider.send(NOTE, ["tok", "fine"]) == (["tok"] if deleted else [])
    assert len(apns.to("tok")) == 1  # final: never retried by the library either


async def test_apns_configuration_error_is_logged_once_and_counted_each_time(
    apns, apns_provider, caplog
):
    before = metrics.value("hugmood_push_config_total", provider="apns")
    apns.plan("x", Answer(400, "TopicDisallowed"), Answer(400, "TopicDisallowed"))
    with caplog.at_level("ERROR", logger="hugmood.push"):
        await apns_provider.send(NOTE, ["x"])
        await apns_provider.send(NOTE, ["x"])
    assert metrics.value("hugmood_push_config_total", provider="apns") == before + 2
    logged = [r for r in caplog.records if "configuration error" in r.getMessage()]
    assert len(logged) <= 1  # once per process and reason (maybe by an earlier test)


@pytest.mark.parametrize(
    "answer", [Answer(429, "TooManyRequests"), Answer(503, "ServiceUnavailable")]
)
async def test_apns_transient_answers_ask_for_a_retry(apns, apns_provider, answer):
    apns.plan("busy", answer)
    with pytest.raises(TryAgain) as caught:
        await apns_provider.send(NOTE, ["busy", "gone"]) if apns.plan(
            "gone", Answer(410, "Unregistered")
        ) is None else None
    assert caught.value.tokens == ["busy"] and caught.value.rejected == ["gone"]
    assert await apns_provider.send(NOTE, ["busy"]) == []  # the retry gets through


async def test_apns_in_flight_cap_holds_the_excess(stack, apns, fcm):
    provider = ApnsProvider(_settings(stack, apns, fcm, PUSH_MAX_IN_FLIGHT="3"))
    apns.delay = 0.1
    try:
        await asyncio.gather(*(provider.send(NOTE, [f"t{i}"]) for i in range(12)))
    finally:
        await provider.close()
    assert len(apns.received) == 12 and apns.max_in_flight == 3


async def test_fcm_request_is_http_v1_authorised_by_the_service_account(fcm, fcm_provider):
    assert await fcm_provider.send(NOTE, ["fcm-token-1"]) == []
    assertion = fcm.assertions[-1]
    assert assertion["grant_type"] == "urn:ietf:params:oauth:grant-type:jwt-bearer"
    assert assertion["iss"] == fcm.service_account["client_email"]
    # Posted to the account's token_uri; the audience stays Google's (what Google checks).
    assert assertion["aud"] == "https://oauth2.googleapis.com/token"
    assert "https://www.googleapis.com/auth/cloud-platform" in assertion["scope"].split()
    [got] = fcm.sends()
    assert got.path == f"/v1/projects/{FCM_PROJECT}/messages:send"
    assert got.headers["authorization"].removeprefix("Bearer ") in fcm.issued
    message = got.body["message"]
    assert message["token"] == "fcm-token-1"
    assert message["notification"] == {"title": "alice sent you a hug", "body": "thinking of you"}
    assert message["data"] == {"type": "hug.received", "seq": "7", "id": "h1"}
    android = message["android"]
    assert android["collapse_key"] == "hugs:alice" and android["priority"] == "high"
    assert android["ttl"] == "3600s"
    assert android["notification"] == {"tag": "hugs:alice", "notification_count": 3}


@pytest.mark.parametrize(
    ("answer", "deleted"),
    [
        (Answer(404, "UNREGISTERED"), True),
        (Answer(403, "SENDER_ID_MISMATCH"), False),
        (Answer(403, ""), False),
        (Answer(400, "INVALID_ARGUMENT"), False),
    ],
)
async def test_fcm_final_answers(fcm, fcm_provider, answer, deleted):
    fcm.plan("tok", answer)
    assert await fcm_provider.send(NOTE, ["tok", "fine"]) == (["tok"] if deleted else [])
    assert len(fcm.to("tok")) == 1


async def test_fcm_401_is_a_configuration_error_and_keeps_the_token(fcm, fcm_provider):
    before = metrics.value("hugmood_push_config_total", provider="fcm")
    # firebase-admin refreshes its OAuth token on a 401 and tries again (twice), then gives up.
    fcm.plan("tok", *[Answer(401, "THIRD_PARTY_AUTH_ERROR")] * 3)
    assert await fcm_provider.send(NOTE, ["tok"]) == []
    assert metrics.value("hugmood_push_config_total", provider="fcm") == before + 1


@pytest.mark.parametrize("status", [429, 500, 503])
async def test_fcm_transient_answers_honour_retry_after(fcm, fcm_provider, status):
    fcm.plan(
        "busy", Answer(status, "QUOTA_EXCEEDED" if status == 429 else "", {"retry-after": "7"})
    )
    with pytest.raises(TryAgain) as caught:
        await fcm_provider.send(NOTE, ["busy"])
    assert caught.value.tokens == ["busy"] and caught.value.retry_after == 7
    assert len(fcm.to("busy")) == 1  # the library's own retries are off: ours are bounded


async def test_fcm_batches_concurrent_pushes_up_to_the_cap(stack, apns, fcm):
    provider = FcmProvider(_settings(stack, apns, fcm, PUSH_MAX_IN_FLIGHT="5"))
    await provider.start()
    fcm.delay = 0.05
    try:
        await asyncio.gather(*(provider.send(NOTE, [f"t{i}"]) for i in range(20)))
    finally:
        await provider.close()
    assert len(fcm.sends()) == 20 and fcm.max_in_flight == 5
