"""What the catalog tests share: listing every page, and the error of a refused call."""

from __future__ import annotations

from typing import Any

import httpx


async def names(api: httpx.AsyncClient, headers: dict[str, str], **params: Any) -> list[str]:
    """The names of the first page (up to 50) of `GET /catalog/fragrances` with `params`."""
    response = await api.get("/catalog/fragrances", params={"limit": 50} | params, headers=headers)
    assert response.status_code == 200, response.text
    return [item["name"] for item in response.json()["items"]]


async def every_page(
    api: httpx.AsyncClient, headers: dict[str, str], **params: Any
) -> tuple[list[dict[str, Any]], int]:
    """Every item over all pages, in order, and how many pages it took."""
    items, cursor, pages = [], None, 0
    while True:
        query = params | ({"cursor": cursor} if cursor else {})
        response = await api.get("/catalog/fragrances", params=query, headers=headers)
        assert response.status_code == 200, response.text
        body = response.json()
        items += body["items"]
        pages += 1
        cursor = body["next_cursor"]
        if cursor is None:
            return items, pages
