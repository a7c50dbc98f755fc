"""Bearer access tokens: missing, malformed, forged and expired tokens are refused with a challenge;
a correctly signed token for a real user's live session is accepted."""

from __future__ import annotations

import time
import uuid

import jwt
import pytest

from tests.conftest import bearer, error, forged, register
from tests.identity.support import NO_BEARER, session_id


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer"},
        {"Authorization": "Basic dXNlcjpwYXNz"},
        {"Authorization": "Token abc.def.ghi"},
        {"Authorization": "abc.def.ghi"},
    ],
    ids=["missing", "no-token", "basic", "other-scheme", "no-scheme"],
)
@pytest.mark.parametrize(
    ("method", "path"),
    [("GET", "/me"), ("PATCH", "/me"), ("POST", "/auth/logout")],
)
async def test_missing_or_malformed_authorization_is_401_with_challenge(
    api, method, path, headers
) -> None:
    response = await api.request(method, path, headers=headers, json={})
    assert response.status_code == 401
    assert error(response) == NO_BEARER
    assert response.headers["WWW-Authenticate"] == "Bearer"


async def test_correctly_signed_token_for_a_real_session_is_accepted(api, secret) -> None:
    """The control for the refusals below: each of them differs from this token in one way."""
    session = await register(api)
    user = session["user"]
    token = forged(secret, {"sub": user["id"], "sid": session_id(session)})
    response = await api.get("/me", headers={"Authorization": f"Bearer {token}"})
    assert (response.status_code, response.json()) == (200, user)


async def test_a_signed_token_of_an_unknown_or_someone_elses_session_is_refused(
    api, secret
) -> None:
    """A session exists only once a login made it, and belongs to the user it was made for."""
    mine, theirs = await register(api), await register(api)
    for sid in (str(uuid.uuid4()), session_id(theirs)):
        for _ in range(2):  # the database's answer, then the cached one
            token = forged(secret, {"sub": mine["user"]["id"], "sid": sid})
            response = await api.get("/me", headers={"Authorization": f"Bearer {token}"})
            assert response.status_code == 401
            assert error(response) == {"code": "unauthorized", "message": "session has ended"}
    assert (await api.get("/me", headers=bearer(theirs))).status_code == 200


def tampered(secret: str, user_id: str) -> str:
    """A genuine token of another user with this user's id spliced into its payload."""
    genuine = forged(secret, {}).split(".")
    payload = forged(secret, {"sub": user_id}).split(".")[1]
    return ".".join([genuine[0], payload, genuine[2]])


def unsigned(user_id: str) -> str:
    now = int(time.time())
    claims = {"iss": "hugmood", "sub": user_id, "sid": user_id, "iat": now, "exp": now + 60}
    return jwt.encode(claims, None, algorithm="none")


def without_sid(secret: str, user_id: str) -> str:
    now = int(time.time())
    return jwt.encode({"iss": "hugmood", "sub": user_id, "iat": now, "exp": now + 60}, secret)


EXPIRED = "access token expired"
INVALID = "invalid access token"
BAD_TOKENS = {
    "expired": (
        lambda k, u: forged(k, {"sub": u, "iat": 0, "exp": int(time.time()) - 60}),
        EXPIRED,
    ),
    "other-secret": (lambda k, u: forged("x" * 48, {"sub": u}), INVALID),
    "other-issuer": (lambda k, u: forged(k, {"sub": u, "iss": "evil"}), INVALID),
    "hs512": (lambda k, u: forged(k, {"sub": u}, alg="HS512"), INVALID),
    "alg-none": (lambda k, u: unsigned(u), INVALID),
    "no-sid": (without_sid, INVALID),
    "sub-not-uuid": (lambda k, u: forged(k, {"sub": "admin"}), INVALID),
    "tampered": (tampered, INVALID),
    "not-a-jwt": (lambda k, u: "not-a-jwt", INVALID),
    "oversize": (lambda k, u: "a" * 5000, "an access token is required"),
}


@pytest.mark.parametrize(("make", "message"), BAD_TOKENS.values(), ids=BAD_TOKENS.keys())
async def test_expired_forged_and_malformed_tokens_are_refused(api, secret, make, message) -> None:
    user = (await register(api))["user"]
    token = make(secret, user["id"])
    response = await api.get("/me", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 401
    assert error(response) == {"code": "unauthorized", "message": message}
    assert response.headers["WWW-Authenticate"] == "Bearer"
