"""Search relevance on the demo catalog: exact names first, typos forgiven, a word among the
notes outranking the same word in a description, and sentences the way people type them."""

from __future__ import annotations

from tests.catalog.support import names
from tests.conftest import error


async def test_an_exact_name_comes_first(api, as_user) -> None:
    for name in ("Vanilla Hour", "Cedar Dusk", "lavender lullaby", "SEA GLASS"):
        found = await names(api, as_user, q=name)
        assert found[0].lower() == name.lower(), (name, found)


async def test_a_name_word_outranks_the_same_word_among_notes(api, as_user) -> None:
    found = await names(api, as_user, q="sandalwood")
    assert found[0] == "Sandalwood Hush"  # the only one with it in its name
    assert {"Salted Caramel Study", "Chai Ember", "Magnolia Window"} <= set(found)


async def test_misspelt_words_find_what_was_meant(api, as_user) -> None:
    vanilla = await names(api, as_user, q="vanilla")
    assert await names(api, as_user, q="vanila") == vanilla
    sandalwood = await names(api, as_user, q="sandalwood")
    assert await names(api, as_user, q="sandlewood") == sandalwood
    lavender = {"Lavender Lullaby", "Lavender Field Run"}  # lavender in the name
    assert set((await names(api, as_user, q="lavendar"))[:2]) == lavender
    assert "Pine Cabin" in await names(api, as_user, q="eucalyptis")


async def test_notes_rank_above_a_mention_in_the_description(api, as_user) -> None:
    found = await names(api, as_user, q="vanilla")
    # These two only mention vanilla in their descriptions ("no vanilla", "without any").
    mentions = {"Plum Velvet Night", "Meadow Morning"}
    assert mentions <= set(found)
    with_note = [n for n in found if n not in mentions]
    assert len(with_note) >= 5
    assert found[: len(with_note)] == with_note  # every note match before any mention


async def test_every_catalog_word_of_a_sentence_must_match(api, as_user) -> None:
    # "woody", "calm" and "evening" are catalog words (family, mood tag, time of day): all
    # must match; "something" is no catalog word and narrows nothing, the rest are stop words.
    found = await names(api, as_user, q="something woody and calm for the evening")
    assert sorted(found) == ["Cedar Dusk", "Sandalwood Hush"]
    assert sorted(await names(api, as_user, q="woody calm")) == sorted(found)
    # Words that narrow nothing still find what has them (any of them).
    assert "Lavender Lullaby" in await names(api, as_user, q="zzqq calm")


async def test_a_search_that_matches_nothing_is_an_empty_page(api, as_user) -> None:
    response = await api.get("/catalog/fragrances", params={"q": "zzqqxx"}, headers=as_user)
    assert response.status_code == 200
    body = response.json()
    assert (body["items"], body["next_cursor"], body["total"]) == ([], None, 0)
    only_stop_words = await api.get("/catalog/fragrances", params={"q": "the and"}, headers=as_user)
    assert only_stop_words.json()["items"] == []


async def test_search_combines_with_filters(api, as_user) -> None:
    assert await names(api, as_user, q="vanilla", family="amber") == ["Amber Hearth"]
    assert "Chai Ember" not in await names(api, as_user, q="vanilla", family="gourmand")


async def test_a_query_too_long_or_of_too_many_words_is_invalid(api, as_user) -> None:
    long = await api.get("/catalog/fragrances", params={"q": "a" * 201}, headers=as_user)
    assert long.status_code == 400
    assert (error(long)["code"], error(long)["field"]) == ("invalid", "q")
    many = await api.get(
        "/catalog/fragrances", params={"q": " ".join(f"w{i}" for i in range(13))}, headers=as_user
    )
    assert many.status_code == 400
    assert error(many) == {
        "code": "invalid",
        "message": "a search has at most 12 words",
        "field": "q",
    }
    punctuation = await names(api, as_user, q="vanilla & (hour) | !:*")
    assert punctuation[0] == "Vanilla Hour"  # tsquery syntax is just text
