"""Structs of the catalog as clients see it and query it: fragrances, notes, products, facets,
hug collections and designs. The admin bodies are in `hugmood.catalog.admin_models`."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal

from msgspec import Meta, Struct

from hugmood.core.structs import Inbound, Text

FAMILIES = (
    "citrus",
    "floral",
    "woody",
    "gourmand",
    "fresh",
    "amber",
    "aromatic",
    "fruity",
    "green",
    "spicy",
)
Family = Literal[
    "citrus",
    "floral",
    "woody",
    "gourmand",
    "fresh",
    "amber",
    "aromatic",
    "fruity",
    "green",
    "spicy",
]
Season = Literal["spring", "summer", "autumn", "winter"]
TimeOfDay = Literal["morning", "afternoon", "evening", "night"]
Layer = Literal["top", "heart", "base"]
ProductKind = Literal["candle", "room_spray", "oil"]
Sort = Literal["relevance", "price", "price_desc", "newest", "popularity"]
Unit = Annotated[float, Meta(ge=0, le=1)]
Currency = Annotated[str, Meta(pattern=r"^[A-Z]{3}$")]
Money = Annotated[int, Meta(ge=0, le=100_000_000)]  # minor units: at most a million major units
Slug = Annotated[str, Meta(min_length=1, max_length=80, pattern=r"^[a-z0-9]+(-[a-z0-9]+)*$")]
MoodTag = Annotated[str, Meta(min_length=1, max_length=30, pattern=r"^[a-z0-9]+(-[a-z0-9]+)*$")]

MAX_QUERY_CHARS = 200  # a search longer than a sentence or two is not a search
MAX_QUERY_WORDS = 12
MAX_FILTER_VALUES = 10  # comma-separated values in one filter
MAX_PAGE = 50


class FragranceQuery(Inbound):
    """`GET /catalog/fragrances`: every filter narrows (AND); a comma list in `family` means any
    of them, in `note` and `mood` all of them."""

    q: Text(MAX_QUERY_CHARS) | None = None
    family: Text(200) | None = None
    note: Text(400) | None = None
    mood: Text(400) | None = None
    season: Season | None = None
    time_of_day: TimeOfDay | None = None
    valence_min: Unit | None = None
    valence_max: Unit | None = None
    arousal_min: Unit | None = None
    arousal_max: Unit | None = None
    price_min: Money | None = None
    price_max: Money | None = None
    currency: Currency = "USD"
    in_stock: bool | None = None
    sort: Sort = "relevance"
    facets: bool = True
    limit: Annotated[int, Meta(ge=1, le=MAX_PAGE)] = 20
    cursor: Text(300) | None = None


class NoteRef(Struct, frozen=True):
    slug: str
    name: str


class Notes(Struct, frozen=True):
    top: list[NoteRef]
    heart: list[NoteRef]
    base: list[NoteRef]


class Price(Struct, frozen=True):
    amount_minor: int
    currency: str


class Product(Struct, frozen=True):
    id: uuid.UUID
    fragrance_id: uuid.UUID
    kind: str
    size: str
    sku: str
    price_minor: int
    currency: str
    stock: int
    created_at: datetime


class Fragrance(Struct, frozen=True):
    """A fragrance in a list; `price_from` is its cheapest product in the asked currency."""

    id: uuid.UUID
    slug: str
    name: str
    description: str
    family: str
    valence: float
    arousal: float
    mood_tags: list[str]
    intensity: int
    seasons: list[str]
    times_of_day: list[str]
    images: list[str]
    popularity: int
    notes: Notes
    price_from: Price | None
    in_stock: bool
    created_at: datetime
    updated_at: datetime


class FragranceDetail(Struct, frozen=True):
    fragrance: Fragrance
    products: list[Product]


class FacetCount(Struct, frozen=True):
    value: str
    count: int


class Facets(Struct, frozen=True):
    """How many fragrances of the current filter have each value (most first)."""

    family: list[FacetCount]
    note: list[FacetCount]
    mood: list[FacetCount]


class FragrancePage(Struct, frozen=True):
    items: list[Fragrance]
    next_cursor: str | None
    total: int | None  # with facets: how many match the filter (all pages)
    facets: Facets | None


class Note(Struct, frozen=True):
    id: uuid.UUID
    slug: str
    name: str
    description: str | None


class Collection(Struct, frozen=True):
    id: uuid.UUID
    name: str
    description: str | None
    is_premium: bool
    is_seasonal: bool
    start_date: datetime | None
    end_date: datetime | None
    created_at: datetime


class Design(Struct, frozen=True):
    """`available`: inside its window (and its collection's) now; `owned`: the caller has it."""

    id: uuid.UUID
    collection_id: uuid.UUID | None
    name: str
    description: str | None
    animation_data: dict
    haptic_pattern: dict | list | None
    preview_image: str | None
    price: Price | None
    is_premium: bool
    available_from: datetime | None
    available_until: datetime | None
    available: bool
    owned: bool
    created_at: datetime


class DesignQuery(Inbound):
    collection_id: uuid.UUID | None = None
    limit: Annotated[int, Meta(ge=1, le=MAX_PAGE)] = 20
    cursor: Text(300) | None = None
