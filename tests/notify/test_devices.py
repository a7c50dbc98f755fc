"""Devices and notification preferences over REST: what the caller sees and what is stored."""

from __future__ import annotations

import secrets
import uuid

from tests.conftest import bearer, error, register, uid


def token() -> str:
    return secrets.token_hex(32)


async def test_register_lists_and_unregisters_a_device(api, db) -> None:
    me = await register(api)
    ios, android = token(), f"fcm:{secrets.token_urlsafe(40)}"
    first = await api.post(
        "/devices",
        json={"platform": "ios", "token": ios, "app_version": "2.1.0", "locale": "fr-CA"},
        headers=bearer(me),
    )
    assert first.status_code == 201, first.text
    device = first.json()
    assert device["platform"] == "ios" and device["token"] == ios
    assert device["app_version"] == "2.1.0" and device["locale"] == "fr-CA"
    await api.post("/devices", json={"platform": "android", "token": android}, headers=bearer(me))
    listed = (await api.get("/devices", headers=bearer(me))).json()
    assert [d["token"] for d in listed["items"]] == [android, ios]  # newest first
    assert listed["next_cursor"] is None
    stored = await db.fetchval("SELECT platform FROM devices WHERE token = $1", ios)
    assert stored == "apns"
    assert (await api.delete(f"/devices/{ios}", headers=bearer(me))).status_code == 204
    listed = (await api.get("/devices", headers=bearer(me))).json()
    assert [d["token"] for d in listed["items"]] == [android]
    again = await api.delete(f"/devices/{ios}", headers=bearer(me))
    assert again.status_code == 404 and error(again)["code"] == "not_found"


async def test_re_registering_a_token_moves_it_to_the_caller(api, db) -> None:
    first, second = await register(api), await register(api)
    shared = token()
    await api.post("/devices", json={"platform": "ios", "token": shared}, headers=bearer(first))
    again = await api.post(
        "/devices", json={"platform": "ios", "token": shared}, headers=bearer(second)
    )
    assert again.status_code == 201
    owners = await db.fetch("SELECT user_id FROM devices WHERE token = $1", shared)
    assert [row["user_id"] for row in owners] == [uuid.UUID(uid(second))]
    assert (await api.get("/devices", headers=bearer(first))).json()["items"] == []
    # The previous owner cannot delete it any more, nor tell it exists.
    gone = await api.delete(f"/devices/{shared}", headers=bearer(first))
    assert gone.status_code == 404


async def test_refreshing_a_device_keeps_one_row(api, db) -> None:
    me = await register(api)
    mine = token()
    for version in ("1.0", "1.1"):
        body = {"platform": "ios", "token": mine, "app_version": version}
        assert (await api.post("/devices", json=body, headers=bearer(me))).status_code == 201
    rows = await db.fetch("SELECT app_version FROM devices WHERE token = $1", mine)
    assert [row["app_version"] for row in rows] == ["1.1"]


async def test_devices_page_with_a_cursor(api) -> None:
    me = await register(api)
    tokens = [token() for _ in range(3)]
    for t in tokens:
        await api.post("/devices", json={"platform": "ios", "token": t}, headers=bearer(me))
    first = (await api.get("/devices?limit=2", headers=bearer(me))).json()
    rest = await api.get(f"/devices?limit=2&cursor={first['next_cursor']}", headers=bearer(me))
    seen = [d["token"] for d in first["items"] + rest.json()["items"]]
    assert seen == tokens[::-1]


async def test_bad_device_bodies_are_invalid_with_the_field(api) -> None:
    me = await register(api)
    cases = [
        ({"platform": "windows", "token": token()}, "platform"),
        ({"platform": "ios", "token": ""}, "token"),
        ({"platform": "ios", "token": "has space"}, "token"),
        ({"platform": "ios", "token": "a" * 4097}, "token"),
        ({"platform": "ios", "token": token(), "locale": "not a locale"}, "locale"),
        ({"platform": "ios", "token": token(), "extra": 1}, "extra"),
    ]
    for body, field in cases:
        response = await api.post("/devices", json=body, headers=bearer(me))
        assert response.status_code == 400, body
        assert error(response)["code"] == "invalid" and error(response)["field"] == field


async def test_device_and_notification_routes_need_a_token(api) -> None:
    for method, path in [
        ("POST", "/devices"),
        ("GET", "/devices"),
        ("DELETE", "/devices/abc"),
        ("GET", "/me/notifications"),
        ("PUT", "/me/notifications"),
    ]:
        response = await api.request(method, path, json={})
        assert response.status_code == 401, (method, path)


async def test_notification_settings_default_on_and_round_trip(api, db) -> None:
    me = await register(api)
    got = (await api.get("/me/notifications", headers=bearer(me))).json()
    assert got == {
        "hugs": True,
        "hug_requests": True,
        "reactions": True,
        "group_hugs": True,
        "orders": True,
        "quiet_hours": None,
    }
    wanted = {**got, "reactions": False, "quiet_hours": {"start": "22:30", "end": "07:00"}}
    put = await api.put("/me/notifications", json=wanted, headers=bearer(me))
    assert put.status_code == 200 and put.json() == wanted
    assert (await api.get("/me/notifications", headers=bearer(me))).json() == wanted
    muted = await db.fetchval(
        "SELECT muted FROM notification_settings WHERE user_id = $1", uuid.UUID(uid(me))
    )
    assert muted == ["reactions"]


async def test_bad_notification_settings_are_invalid(api) -> None:
    me = await register(api)
    cases = [
        ({"quiet_hours": {"start": "25:00", "end": "07:00"}}, "quiet_hours.start"),
        ({"quiet_hours": {"start": "22:00", "end": "22:00"}}, "quiet_hours"),
        ({"quiet_hours": {"start": "22:00"}}, "quiet_hours.end"),
        ({"hugs": "yes"}, "hugs"),
        ({"sms": True}, "sms"),
    ]
    for body, field in cases:
        response = await api.put("/me/notifications", json=body, headers=bearer(me))
        assert response.status_code == 400, body
        assert error(response)["code"] == "invalid" and error(response)["field"] == field, body
