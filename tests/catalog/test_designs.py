"""Hug collections and designs: only what is inside its window (and its collection's) is
listed or can be bought, `owned` says what the caller has, and a design someone owns can
still be sent after its window has closed."""

from __future__ import annotations

import secrets
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from hugmood.catalog import designs
from hugmood.catalog.models import DesignQuery
from hugmood.core.errors import AppError
from hugmood.core.structs import PageQuery
from tests.conftest import bearer, error, register, uid

NOW = datetime.now(UTC)
DAY = timedelta(days=1)


async def make_collection(api, as_admin, **fields) -> str:
    body = {"name": f"Test {secrets.token_hex(4)}"} | fields
    response = await api.post("/admin/catalog/collections", json=body, headers=as_admin)
    assert response.status_code == 201, response.text
    return response.json()["id"]


async def make_design(api, as_admin, collection_id: str, name: str, **window) -> str:
    body = {"name": name, "collection_id": collection_id, "price_minor": 99, "currency": "USD"}
    body |= {k: v.isoformat() for k, v in window.items()}
    response = await api.post("/admin/catalog/designs", json=body, headers=as_admin)
    assert response.status_code == 201, response.text
    return response.json()["id"]


@pytest.fixture
async def windows(api, as_admin) -> tuple[str, dict[str, str]]:
    """A collection with designs whose windows ended, are open, open-ended or yet to come."""
    collection = await make_collection(api, as_admin)
    ids = {
        "ended": await make_design(
            api,
            as_admin,
            collection,
            "ended",
            available_from=NOW - 9 * DAY,
            available_until=NOW - DAY,
        ),
        "open": await make_design(
            api, as_admin, collection, "open", available_from=NOW - DAY, available_until=NOW + DAY
        ),
        "always": await make_design(api, as_admin, collection, "always"),
        "until": await make_design(api, as_admin, collection, "until", available_until=NOW + DAY),
        "soon": await make_design(api, as_admin, collection, "soon", available_from=NOW + DAY),
    }
    return collection, ids


async def listed(api, headers, collection: str) -> list[str]:
    response = await api.get(
        "/catalog/designs", params={"collection_id": collection}, headers=headers
    )
    assert response.status_code == 200, response.text
    return sorted(d["name"] for d in response.json()["items"])


async def test_only_designs_inside_their_window_are_listed(api, as_user, windows, catalog) -> None:
    collection, _ = windows
    assert await listed(api, as_user, collection) == ["always", "open", "until"]
    later = await designs.list_designs(
        catalog.services.ctx,
        uuid.UUID(uid(catalog.user)),
        DesignQuery(collection_id=uuid.UUID(collection)),
        at=NOW + 2 * DAY,
    )
    assert sorted(d.name for d in later.items) == ["always", "soon"]


async def test_a_closed_collection_hides_its_designs(api, as_user, as_admin, windows) -> None:
    collection, _ = windows
    closed = await api.patch(
        f"/admin/catalog/collections/{collection}",
        json={"end_date": (NOW - DAY).isoformat()},
        headers=as_admin,
    )
    assert closed.status_code == 200, closed.text
    assert await listed(api, as_user, collection) == []
    response = await api.get("/catalog/collections", params={"limit": 100}, headers=as_user)
    assert collection not in [c["id"] for c in response.json()["items"]]


async def test_the_demo_collections_are_listed(api, as_user) -> None:
    response = await api.get("/catalog/collections", params={"limit": 100}, headers=as_user)
    names = {c["name"] for c in response.json()["items"]}
    assert {"Everyday Warmth", "Calm Corners", "Winter Lights"} <= names
    page = await api.get("/catalog/designs", params={"limit": 2}, headers=as_user)
    assert len(page.json()["items"]) == 2 and page.json()["next_cursor"]
    bad = await api.get("/catalog/designs", params={"cursor": "x"}, headers=as_user)
    assert (bad.status_code, error(bad)["field"]) == (400, "cursor")


async def test_owned_and_purchasable_follow_inventory_and_window(api, windows, catalog) -> None:
    _, ids = windows
    buyer = await register(api)
    buyer_id = uuid.UUID(uid(buyer))
    await catalog.db.execute(
        "INSERT INTO user_hug_inventory (user_id, hug_design_id) VALUES ($1, $2)",
        buyer_id,
        uuid.UUID(ids["always"]),
    )
    response = await api.get("/catalog/designs", params={"limit": 50}, headers=bearer(buyer))
    owned = {d["name"]: d["owned"] for d in response.json()["items"] if d["id"] in ids.values()}
    assert owned == {"always": True, "open": False, "until": False}

    db = catalog.services.ctx.db
    bought = await designs.ensure_purchasable(db, uuid.UUID(ids["open"]), buyer_id)
    assert bought.name == "open" and bought.price.amount_minor == 99
    for name, message in (
        ("ended", "this hug design is not available now"),
        ("soon", "this hug design is not available now"),
        ("always", "you already own this hug design"),
    ):
        with pytest.raises(AppError) as refused:
            await designs.ensure_purchasable(db, uuid.UUID(ids[name]), buyer_id)
        assert (refused.value.code, refused.value.message) == ("conflict", message)
    assert await designs.ensure_purchasable(db, uuid.UUID(ids["soon"]), buyer_id, at=NOW + 2 * DAY)
    with pytest.raises(AppError) as unknown:
        await designs.ensure_purchasable(db, uuid.uuid4(), buyer_id)
    assert unknown.value.code == "not_found"


async def test_an_owned_design_can_be_sent_after_its_window(api, windows, catalog) -> None:
    _, ids = windows
    sender, recipient = await register(api), await register(api)
    await catalog.db.execute(
        "UPDATE privacy_settings SET allow_hugs_from = 'everyone' WHERE user_id = $1",
        uuid.UUID(uid(recipient)),
    )
    await catalog.db.execute(
        "INSERT INTO user_hug_inventory (user_id, hug_design_id) VALUES ($1, $2)",
        uuid.UUID(uid(sender)),
        uuid.UUID(ids["ended"]),
    )
    hug = {"to": uid(recipient), "type": "warm", "client_id": "c1", "design_id": ids["ended"]}
    sent = await api.post("/hugs", json=hug, headers=bearer(sender))
    assert sent.status_code == 201, sent.text
    assert sent.json()["hug"]["design_id"] == ids["ended"]
    not_owned = hug | {"client_id": "c2", "design_id": ids["open"]}
    refused = await api.post("/hugs", json=not_owned, headers=bearer(sender))
    assert (refused.status_code, error(refused)["code"]) == (403, "forbidden")


async def test_bad_design_bodies_are_invalid(api, as_admin, windows) -> None:
    _, ids = windows
    inverted = {"name": "x", "available_from": NOW.isoformat(), "available_until": NOW.isoformat()}
    for body, field in (
        (inverted, "available_until"),
        ({"name": "x", "price_minor": 100}, "currency"),
        ({"name": "x", "collection_id": str(uuid.uuid4())}, "collection_id"),
        ({"name": "x", "price_minor": -1, "currency": "USD"}, "price_minor"),
    ):
        response = await api.post("/admin/catalog/designs", json=body, headers=as_admin)
        assert (response.status_code, error(response)["field"]) in ((400, field), (404, field))
    price_cleared = await api.patch(
        f"/admin/catalog/designs/{ids['open']}", json={"currency": None}, headers=as_admin
    )
    assert (price_cleared.status_code, error(price_cleared)["field"]) == (400, "currency")
    freed = await api.patch(
        f"/admin/catalog/designs/{ids['open']}",
        json={"currency": None, "price_minor": None},
        headers=as_admin,
    )
    assert freed.json()["price"] is None


async def test_collections_page_through_core_pagination(catalog) -> None:
    ctx = catalog.services.ctx
    first = await designs.list_collections(ctx, PageQuery(limit=1))
    second = await designs.list_collections(ctx, PageQuery(limit=1, cursor=first.next_cursor))
    assert first.items[0].id != second.items[0].id
