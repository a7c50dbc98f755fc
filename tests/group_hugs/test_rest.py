"""GET /group-hugs/{id} for participants only, the caller's list by status (keyset pages), and
participant pages; `group_hug:invite` grows a group hug past one call's invitees."""

from __future__ import annotations

import uuid

import httpx

from tests.conftest import bearer, error
from tests.group_hugs.support import act, call, create, people


async def test_a_group_hug_is_visible_to_its_participants_only(nodes, connect, db) -> None:
    host, guest, stranger = await people(db, 3)
    a = await connect(nodes[0], host)
    group = await create(a, [guest], message="tonight", description="all of us")
    async with httpx.AsyncClient(base_url=nodes[1].url) as api:
        mine = await api.get(f"/group-hugs/{group['id']}", headers=bearer(guest))
        assert mine.status_code == 200
        body = mine.json()
        assert body["group_hug"] == group and body["me"] == "INVITED"
        assert {p["user"]["id"]: p["status"] for p in body["participants"]} == {
            host["user"]["id"]: "JOINED",
            guest["user"]["id"]: "INVITED",
        }
        hidden = await api.get(f"/group-hugs/{group['id']}", headers=bearer(stranger))
        assert hidden.status_code == 404 and error(hidden)["code"] == "not_found"
        unknown = await api.get(f"/group-hugs/{uuid.uuid4()}", headers=bearer(guest))
        assert unknown.status_code == 404
        assert (await api.get("/group-hugs/not-an-id", headers=bearer(guest))).status_code == 400
        assert (await api.get(f"/group-hugs/{group['id']}")).status_code == 401
        assert (await api.get("/group-hugs")).status_code == 401


async def test_the_callers_group_hugs_page_newest_first_and_filter_by_status(
    nodes, connect, db
) -> None:
    host, guest = await people(db, 2)
    a = await connect(nodes[0], host)
    made = [await create(a, [guest], name=f"hug {i}") for i in range(5)]
    assert (await act(a, "cancel", made[1]))["ok"]
    async with httpx.AsyncClient(base_url=nodes[0].url, headers=bearer(guest)) as api:
        first = (await api.get("/group-hugs", params={"limit": 3})).json()
        rest = (await api.get("/group-hugs", params={"cursor": first["next_cursor"]})).json()
        assert [g["name"] for g in first["items"] + rest["items"]] == [
            f"hug {i}" for i in reversed(range(5))
        ]
        assert rest["next_cursor"] is None
        canceled = (await api.get("/group-hugs", params={"status": "CANCELED"})).json()
        assert [g["id"] for g in canceled["items"]] == [made[1]["id"]]
        bad = await api.get("/group-hugs", params={"status": "DONE"})
        assert bad.status_code == 400 and error(bad)["field"] == "status"
        forged = await api.get("/group-hugs", params={"cursor": "nope"})
        assert forged.status_code == 400 and error(forged)["field"] == "cursor"


async def test_invites_grow_a_group_hug_and_participant_pages_walk_it(nodes, connect, db) -> None:
    host, *crowd = await people(db, 61)
    a = await connect(nodes[0], host)
    group = await create(a, crowd[:30])
    more = await call(
        a,
        "group_hug:invite",
        {"group_hug_id": group["id"], "invitees": [s["user"]["id"] for s in crowd[25:]]},
    )  # five already invited: invited once
    assert more["ok"], more
    invited = await db.fetchval(
        "SELECT count(*) FROM inbox_events "
        "WHERE type = 'group_hug.invited' AND payload->>'id' = $1",
        group["id"],
    )
    assert invited == 60
    guest = await connect(nodes[1], crowd[0])
    refused = await call(
        guest, "group_hug:invite", {"group_hug_id": group["id"], "invitees": [host["user"]["id"]]}
    )
    assert refused["error"]["code"] == "forbidden"
    async with httpx.AsyncClient(base_url=nodes[0].url, headers=bearer(crowd[0])) as api:
        seen, cursor = [], None
        while True:
            params = {"limit": 25} | ({"cursor": cursor} if cursor else {})
            page = (await api.get(f"/group-hugs/{group['id']}/participants", params=params)).json()
            seen += [p["user"]["id"] for p in page["items"]]
            if (cursor := page["next_cursor"]) is None:
                break
    assert sorted(seen) == sorted([host["user"]["id"]] + [s["user"]["id"] for s in crowd])
