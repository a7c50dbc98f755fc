"""The admin API: admin role only (401 without a token, 403 for anyone else), every change in
the append-only audit log with its before and after, answers for conflicts and bad
references, stock that concurrent changes never take below zero, and pages that stay stable
while fragrances are added."""

from __future__ import annotations

import asyncio
import json
import re
import secrets
import uuid
from typing import Any

import asyncpg
import pytest
from starlette.routing import Route

from rest.app import create_rest_app
from tests.catalog.support import every_page, names
from tests.conftest import Stack, error, uid


def admin_routes() -> list[tuple[str, str]]:
    settings = Stack("postgresql://unused", "redis://unused", "unused").settings()
    app = create_rest_app(settings, None)
    return sorted(
        (method, route.path)
        for route in app.routes
        if isinstance(route, Route) and route.path.startswith("/admin/")
        for method in route.methods or ()
        if method != "HEAD"
    )


def test_the_admin_routes_are_all_there() -> None:
    assert len(admin_routes()) == 16


@pytest.mark.parametrize(("method", "path"), admin_routes())
async def test_admin_routes_need_the_admin_role(api, as_user, as_admin, method, path) -> None:
    url = re.sub(r"\{id\}", str(uuid.uuid4()), path)
    body = {} if method in ("POST", "PATCH") else None
    nobody = await api.request(method, url, json=body)
    assert (nobody.status_code, error(nobody)["code"]) == (401, "unauthorized")
    user = await api.request(method, url, json=body, headers=as_user)
    assert user.status_code == 403
    assert error(user) == {"code": "forbidden", "message": "this needs the admin role"}
    admin = await api.request(method, url, json=body, headers=as_admin)
    # Past the role check: an empty POST body is invalid, a change to an unknown id not found.
    expected = 400 if method == "POST" else 404
    assert admin.status_code == expected, admin.text


async def audit(db: asyncpg.Pool, entity: str, entity_id: str) -> list[dict[str, Any]]:
    rows = await db.fetch(
        "SELECT actor_id::text, action, before, after FROM audit_log "
        "WHERE entity = $1 AND entity_id = $2 ORDER BY id",
        entity,
        entity_id,
    )
    return [dict(r) | {k: r[k] and json.loads(r[k]) for k in ("before", "after")} for r in rows]


def word() -> str:
    """A word no other fragrance has, to find the test's own by search."""
    return "zq" + "".join(secrets.choice("bcdfghjklmnpqrstvwxz") for _ in range(8))


async def test_create_change_and_delete_are_served_and_audited(api, as_admin, catalog) -> None:
    admin_id, w = uid(catalog.admin), word()
    note = await api.post(
        "/admin/catalog/notes", json={"slug": f"{w}-note", "name": f"{w}leaf"}, headers=as_admin
    )
    assert note.status_code == 201, note.text
    body = {
        "slug": f"{w}-mist",
        "name": f"{w.title()} Mist",
        "family": "green",
        "valence": 0.6,
        "arousal": 0.4,
        "intensity": 2,
        "mood_tags": ["calm"],
        "notes": {"top": [f"{w}-note", "lemon"], "base": ["musk"]},
    }
    created = await api.post("/admin/catalog/fragrances", json=body, headers=as_admin)
    assert created.status_code == 201, created.text
    fragrance = created.json()["fragrance"]
    assert [n["slug"] for n in fragrance["notes"]["top"]] == [f"{w}-note", "lemon"]
    assert await names(catalog.client(), as_admin, q=f"{w}leaf") == [body["name"]]

    renamed = await api.patch(
        f"/admin/catalog/notes/{note.json()['id']}", json={"name": "Vetiverleaf"}, headers=as_admin
    )
    assert renamed.json()["name"] == "Vetiverleaf"
    assert await names(api, as_admin, q=f"{w}leaf") == []  # the search follows the rename
    assert body["name"] in await names(api, as_admin, q="vetiverleaf")

    patched = await api.patch(
        f"/admin/catalog/fragrances/{fragrance['id']}",
        json={"family": "woody", "notes": {"heart": ["rose"]}},
        headers=as_admin,
    )
    assert patched.status_code == 200, patched.text
    assert patched.json()["fragrance"]["notes"] == {
        "top": [],
        "heart": [{"slug": "rose", "name": "Rose"}],
        "base": [],
    }
    product = await api.post(
        "/admin/catalog/products",
        json={
            "fragrance_id": fragrance["id"],
            "kind": "oil",
            "size": "10 ml",
            "sku": f"{w}-O",
            "price_minor": 1500,
            "currency": "USD",
            "stock": 3,
        },
        headers=as_admin,
    )
    assert product.status_code == 201, product.text
    detail = await api.get(f"/catalog/fragrances/{body['slug']}", headers=as_admin)
    assert detail.json()["products"] == [product.json()]
    assert detail.json()["fragrance"]["price_from"] == {"amount_minor": 1500, "currency": "USD"}

    gone = await api.delete(f"/admin/catalog/fragrances/{fragrance['id']}", headers=as_admin)
    assert gone.status_code == 204
    missing = await api.get(f"/catalog/fragrances/{fragrance['id']}", headers=as_admin)
    assert (missing.status_code, error(missing)["code"]) == (404, "not_found")
    assert (
        await catalog.db.fetchval(
            "SELECT count(*) FROM products WHERE id = $1", uuid.UUID(product.json()["id"])
        )
        == 0
    )

    rows = await audit(catalog.db, "fragrance", fragrance["id"])
    assert [(r["actor_id"], r["action"]) for r in rows] == [
        (admin_id, "create"),
        (admin_id, "update"),
        (admin_id, "delete"),
    ]
    assert rows[0]["before"] is None and rows[0]["after"]["fragrance"]["family"] == "green"
    assert rows[1]["before"]["fragrance"]["family"] == "green"
    assert rows[1]["after"]["fragrance"]["family"] == "woody"
    assert rows[2]["before"] == detail.json() and rows[2]["after"] is None
    note_rows = await audit(catalog.db, "fragrance_note", note.json()["id"])
    assert [(r["action"], r["after"]["name"]) for r in note_rows] == [
        ("create", f"{w}leaf"),
        ("update", "Vetiverleaf"),
    ]
    product_rows = await audit(catalog.db, "product", product.json()["id"])
    assert [r["action"] for r in product_rows] == ["create"]


async def test_the_audit_log_is_append_only(catalog) -> None:
    assert await catalog.db.fetchval("SELECT count(*) FROM audit_log") > 0
    for statement in ("UPDATE audit_log SET action = 'x'", "DELETE FROM audit_log"):
        with pytest.raises(asyncpg.RaiseError, match="append-only"):
            await catalog.db.execute(statement)
    with pytest.raises(asyncpg.RaiseError, match="append-only"):
        await catalog.db.execute("TRUNCATE audit_log")


async def test_conflicts_and_bad_references_are_answered(api, as_admin, catalog) -> None:
    base = {"name": "Dup", "family": "woody", "valence": 0.5, "arousal": 0.5, "intensity": 3}
    taken = await api.post(
        "/admin/catalog/fragrances", json=base | {"slug": "vanilla-hour"}, headers=as_admin
    )
    assert (taken.status_code, error(taken)) == (
        409,
        {"code": "conflict", "message": "this slug is taken", "field": "slug"},
    )
    unknown = await api.post(
        "/admin/catalog/fragrances",
        json=base | {"slug": f"{word()}", "notes": {"top": ["unobtainium"]}},
        headers=as_admin,
    )
    assert (unknown.status_code, error(unknown)["field"]) == (400, "notes")
    twice = await api.post(
        "/admin/catalog/fragrances",
        json=base | {"slug": f"{word()}", "notes": {"top": ["rose"], "base": ["rose"]}},
        headers=as_admin,
    )
    assert (twice.status_code, error(twice)["message"]) == (400, "a note is listed twice")
    product = {"kind": "candle", "size": "1", "price_minor": 1, "currency": "USD"}
    orphan = await api.post(
        "/admin/catalog/products",
        json=product | {"fragrance_id": str(uuid.uuid4()), "sku": word()},
        headers=as_admin,
    )
    assert (orphan.status_code, error(orphan)["field"]) == (404, "fragrance_id")
    vanilla_hour = await catalog.db.fetchval(
        "SELECT id::text FROM fragrances WHERE slug = 'vanilla-hour'"
    )
    sku = await api.post(
        "/admin/catalog/products",
        json=product | {"fragrance_id": vanilla_hour, "sku": "VANILLA-HOUR-C"},
        headers=as_admin,
    )
    assert (sku.status_code, error(sku)["field"]) == (409, "sku")
    vanilla = await catalog.db.fetchval(
        "SELECT id::text FROM fragrance_notes WHERE slug = 'vanilla'"
    )
    used = await api.delete(f"/admin/catalog/notes/{vanilla}", headers=as_admin)
    assert used.status_code == 409
    assert error(used)["message"].endswith("fragrance(s) still have this note")
    assert (
        await catalog.db.fetchval("SELECT count(*) FROM audit_log WHERE entity_id = $1", vanilla)
        == 1
    )


async def test_concurrent_stock_changes_never_go_below_zero(api, as_admin, catalog) -> None:
    product_id = await catalog.db.fetchval(
        "INSERT INTO products (fragrance_id, kind, size, sku, price_minor, currency, stock) "
        "SELECT id, 'oil', '5 ml', $1, 900, 'USD', 10 FROM fragrances WHERE slug = 'sea-glass' "
        "RETURNING id::text",
        word(),
    )

    async def take() -> int:
        async with catalog.client() as client:
            response = await client.post(
                f"/admin/catalog/products/{product_id}/stock", json={"delta": -1}, headers=as_admin
            )
            return response.status_code

    answers = await asyncio.gather(*(take() for _ in range(40)))
    assert sorted(answers) == [200] * 10 + [409] * 30
    assert (
        await catalog.db.fetchval("SELECT stock FROM products WHERE id = $1::uuid", product_id) == 0
    )
    rows = await audit(catalog.db, "product", product_id)
    assert len(rows) == 10
    assert sorted(r["after"]["stock"] for r in rows) == list(range(10))
    assert all(r["before"]["stock"] == r["after"]["stock"] + 1 for r in rows)
    too_many = await api.post(
        f"/admin/catalog/products/{product_id}/stock", json={"delta": -1}, headers=as_admin
    )
    assert error(too_many) == {"code": "conflict", "message": "not enough stock", "field": "delta"}
    with pytest.raises(asyncpg.CheckViolationError):
        await catalog.db.execute("UPDATE products SET stock = -1 WHERE id = $1::uuid", product_id)


async def test_pages_stay_stable_while_fragrances_are_added(api, as_admin, catalog) -> None:
    for sort in ("newest", "popularity"):
        before, _ = await every_page(api, as_admin, sort=sort, limit=50, facets="false")
        first = await api.get(
            "/catalog/fragrances", params={"sort": sort, "limit": 10}, headers=as_admin
        )
        page = first.json()
        added = []
        for popularity in (10_000, 150, 0):  # before, inside and after the walked part
            w = word()
            body = {
                "slug": w,
                "name": w,
                "family": "fresh",
                "valence": 0.5,
                "arousal": 0.5,
                "intensity": 1,
                "popularity": popularity,
            }
            response = await api.post("/admin/catalog/fragrances", json=body, headers=as_admin)
            added.append(response.json()["fragrance"])
        rest, _ = await every_page(
            api, as_admin, sort=sort, limit=10, facets="false", cursor=page["next_cursor"]
        )
        seen = [i["id"] for i in page["items"] + rest]
        assert len(seen) == len(set(seen))  # nothing twice
        old = [i["id"] for i in before]
        assert [i for i in seen if i in old] == old  # nothing skipped, order kept
        # What was added lands after the cursor exactly when its key sorts after it.
        new = {i["id"] for i in added} & set(seen)
        expected = set() if sort == "newest" else {added[1]["id"], added[2]["id"]}
        assert new == expected


async def test_facet_counts_follow_every_change_at_once(api, as_admin, catalog) -> None:
    """Counts are cached per process by catalog version: a change is seen by the next call."""
    w = word()

    async def family_counts(**params: Any) -> dict[str, int]:
        response = await api.get(
            "/catalog/fragrances", params={"limit": 1} | params, headers=as_admin
        )
        return {c["value"]: c["count"] for c in response.json()["facets"]["family"]}

    before = await family_counts(mood="serene", in_stock="true")
    assert await family_counts(mood="serene", in_stock="true") == before  # cached, unchanged
    body = {
        "slug": w,
        "name": w,
        "family": "spicy",
        "valence": 0.5,
        "arousal": 0.5,
        "intensity": 1,
        "mood_tags": ["serene"],
    }
    created = (await api.post("/admin/catalog/fragrances", json=body, headers=as_admin)).json()
    assert await family_counts(mood="serene", in_stock="true") == before  # nothing in stock yet
    product = await api.post(
        "/admin/catalog/products",
        json={
            "fragrance_id": created["fragrance"]["id"],
            "kind": "candle",
            "size": "1",
            "sku": w,
            "price_minor": 100,
            "currency": "USD",
        },
        headers=as_admin,
    )
    stock = f"/admin/catalog/products/{product.json()['id']}/stock"
    await api.post(stock, json={"delta": 2}, headers=as_admin)
    after = await family_counts(mood="serene", in_stock="true")
    assert after == before | {"spicy": before.get("spicy", 0) + 1}
    await api.post(stock, json={"delta": -1}, headers=as_admin)  # still in stock: no change
    assert await family_counts(mood="serene", in_stock="true") == after
    await api.post(stock, json={"delta": -1}, headers=as_admin)  # out of stock
    assert await family_counts(mood="serene", in_stock="true") == before
