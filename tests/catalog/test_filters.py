"""Every filter, alone and combined, against the same question asked of the stored catalog;
sorts; facets that count exactly the filtered list; and bad queries answered `invalid`."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest

from tests.catalog.support import every_page
from tests.conftest import error


async def everything(api, headers) -> list[dict[str, Any]]:
    items, _ = await every_page(api, headers, limit=50, facets="false", sort="newest")
    return items


async def offers(catalog) -> dict[str, list[tuple[int, int]]]:
    """(price, stock) of each fragrance's USD products, by fragrance id."""
    rows = await catalog.db.fetch(
        "SELECT fragrance_id::text AS f, price_minor, stock FROM products WHERE currency = 'USD'"
    )
    out: dict[str, list[tuple[int, int]]] = {}
    for r in rows:
        out.setdefault(r["f"], []).append((r["price_minor"], r["stock"]))
    return out


def note_slugs(item: dict[str, Any]) -> set[str]:
    return {n["slug"] for layer in item["notes"].values() for n in layer}


def predicate(params: dict[str, Any], prices: dict[str, list[tuple[int, int]]]):
    """What the filters in `params` mean, written again over the served items."""

    def keep(item: dict[str, Any]) -> bool:
        if "family" in params and item["family"] not in params["family"].split(","):
            return False
        if "note" in params and not set(params["note"].split(",")) <= note_slugs(item):
            return False
        if "mood" in params and not set(params["mood"].split(",")) <= set(item["mood_tags"]):
            return False
        if "season" in params and params["season"] not in item["seasons"]:
            return False
        if "time_of_day" in params and params["time_of_day"] not in item["times_of_day"]:
            return False
        for name in ("valence", "arousal"):
            if f"{name}_min" in params and item[name] < params[f"{name}_min"]:
                return False
            if f"{name}_max" in params and item[name] > params[f"{name}_max"]:
                return False
        product_filters = {"price_min", "price_max", "in_stock"} & set(params)
        if product_filters:
            return any(
                params.get("price_min", 0) <= price <= params.get("price_max", 10**9)
                and (not params.get("in_stock") or stock > 0)
                for price, stock in prices.get(item["id"], [])
            )
        return True

    return keep


FILTERS = [
    {"family": "woody"},
    {"family": "woody,amber,spicy"},
    {"note": "vanilla"},
    {"note": "vanilla,sandalwood"},
    {"mood": "calm"},
    {"mood": "cozy,comforting"},
    {"season": "winter"},
    {"time_of_day": "morning"},
    {"valence_min": 0.75},
    {"valence_max": 0.6},
    {"arousal_min": 0.3, "arousal_max": 0.5},
    {"price_min": 2000, "price_max": 3000},
    {"price_max": 1700},
    {"in_stock": True},
    {"in_stock": True, "price_min": 4000},
    {"family": "fresh,green", "season": "summer", "arousal_max": 0.5},
    {"mood": "calm", "time_of_day": "evening", "in_stock": True},
    {"note": "musk", "valence_min": 0.7, "price_max": 2000},
    {"family": "gourmand", "note": "vanilla", "mood": "cozy", "season": "winter"},
]


@pytest.mark.parametrize(
    "params", FILTERS, ids=lambda p: ",".join(f"{k}={v}" for k, v in p.items())
)
async def test_each_filter_and_combination_lists_exactly_what_it_means(
    api, as_user, catalog, params
) -> None:
    expected = [
        i["id"]
        for i in await everything(api, as_user)
        if predicate(params, await offers(catalog))(i)
    ]
    assert expected, "a filter that keeps nothing tests nothing"
    query = {k: str(v).lower() for k, v in params.items()} | {"sort": "newest", "limit": 50}
    response = await api.get("/catalog/fragrances", params=query, headers=as_user)
    assert response.status_code == 200, response.text
    body = response.json()
    assert [i["id"] for i in body["items"]] == expected
    assert body["total"] == len(expected)


@pytest.mark.parametrize("params", [{}, {"season": "winter"}, {"q": "warm vanilla"}, FILTERS[-3]])
async def test_facets_count_the_filtered_list(api, as_user, params) -> None:
    items, _ = await every_page(api, as_user, limit=50, facets="false", **params)
    response = await api.get("/catalog/fragrances", params={"limit": 1} | params, headers=as_user)
    body = response.json()
    facets = {
        name: {c["value"]: c["count"] for c in counts} for name, counts in body["facets"].items()
    }
    assert body["total"] == len(items)
    assert facets["family"] == Counter(i["family"] for i in items)
    assert facets["mood"] == Counter(t for i in items for t in i["mood_tags"])
    notes = Counter(n for i in items for n in note_slugs(i))
    top = sorted(notes.items(), key=lambda vc: (-vc[1], vc[0]))[:50]  # the 50 most frequent
    assert list(facets["note"].items()) == top
    # Narrowing by a facet's value lists as many as it counted.
    value, count = next(iter(facets["note"].items()))
    narrowed, _ = await every_page(api, as_user, limit=50, note=value, **params)
    assert len(narrowed) == count


async def test_sorts_order_by_price_newest_and_popularity(api, as_user, catalog) -> None:
    prices = await offers(catalog)
    cheapest = {f: min(p for p, _ in ps) for f, ps in prices.items()}
    for sort, key, reverse in (
        ("price", lambda i: (cheapest.get(i["id"], 2**31), i["id"]), False),
        ("price_desc", lambda i: (cheapest.get(i["id"], -1), i["id"]), True),
        ("popularity", lambda i: (i["popularity"], i["id"]), True),
        ("newest", lambda i: (i["created_at"], i["id"]), True),
    ):
        items, pages = await every_page(api, as_user, sort=sort, limit=7, facets="false")
        assert pages > 2
        assert items == sorted(items, key=key, reverse=reverse), sort
        assert len({i["id"] for i in items}) == len(items)
    by_price, _ = await every_page(api, as_user, sort="price", family="gourmand", limit=2)
    assert [i["price_from"]["amount_minor"] for i in by_price] == sorted(
        cheapest[i["id"]] for i in by_price
    )


async def test_relevance_without_a_search_is_popularity(api, as_user) -> None:
    relevance, _ = await every_page(api, as_user, limit=50, facets="false")
    popularity, _ = await every_page(api, as_user, limit=50, facets="false", sort="popularity")
    assert relevance == popularity


async def test_search_pages_walk_the_ranked_list(api, as_user) -> None:
    whole, _ = await every_page(api, as_user, q="calm", limit=50)
    paged, pages = await every_page(api, as_user, q="calm", limit=3)
    assert pages > 2 and paged == whole


@pytest.mark.parametrize(
    ("params", "field", "message"),
    [
        ({"cursor": "not-a-cursor"}, "cursor", "malformed cursor"),
        ({"cursor": "W10"}, "cursor", "malformed cursor"),
        ({"sort": "cheapest"}, "sort", None),
        (
            {"valence_min": 0.8, "valence_max": 0.2},
            "valence_min",
            "valence_min is above valence_max",
        ),
        (
            {"arousal_min": 0.9, "arousal_max": 0.1},
            "arousal_min",
            "arousal_min is above arousal_max",
        ),
        ({"price_min": 5000, "price_max": 100}, "price_min", "price_min is above price_max"),
        ({"valence_min": 2}, "valence_min", None),
        ({"price_min": -1}, "price_min", None),
        ({"family": "woody,oceanic"}, "family", "unknown value 'oceanic'"),
        ({"family": ","}, "family", "give 1 to 10 comma-separated values"),
        (
            {"note": ",".join(f"n{i}" for i in range(11))},
            "note",
            "give 1 to 10 comma-separated values",
        ),
        ({"season": "monsoon"}, "season", None),
        ({"currency": "usd"}, "currency", None),
        ({"limit": 0}, "limit", None),
        ({"limit": 51}, "limit", None),
        ({"in_stock": "maybe"}, "in_stock", None),
        ({"colour": "blue"}, "colour", "unknown field"),
    ],
)
async def test_bad_queries_are_invalid(api, as_user, params, field, message) -> None:
    response = await api.get("/catalog/fragrances", params=params, headers=as_user)
    assert response.status_code == 400, response.text
    assert (error(response)["code"], error(response).get("field")) == ("invalid", field)
    if message is not None:
        assert error(response)["message"] == message


async def test_a_cursor_of_another_sort_is_invalid(api, as_user) -> None:
    first = await api.get(
        "/catalog/fragrances", params={"sort": "price", "limit": 2}, headers=as_user
    )
    cursor = first.json()["next_cursor"]
    other = await api.get(
        "/catalog/fragrances", params={"sort": "newest", "cursor": cursor}, headers=as_user
    )
    assert other.status_code == 400
    assert error(other) == {
        "code": "invalid",
        "message": "this cursor belongs to sort=price",
        "field": "cursor",
    }
