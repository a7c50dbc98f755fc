"""Bodies of the catalog's admin API: create (every required field) and patch (any subset;
`null` clears an optional field) for notes, fragrances, products, collections and designs."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any

from msgspec import UNSET, Meta, UnsetType

from hugmood.catalog.models import (
    Currency,
    Family,
    Money,
    MoodTag,
    ProductKind,
    Season,
    Slug,
    TimeOfDay,
    Unit,
)
from hugmood.core.structs import Inbound, Text

ImageUrl = Annotated[str, Meta(max_length=500, pattern=r"^https://[^\s\x00]+$")]
Name = Text(100, min_length=1)
Description = Text(4000)
NoteSlugs = Annotated[list[Slug], Meta(max_length=12)]
Intensity = Annotated[int, Meta(ge=1, le=5)]
Popularity = Annotated[int, Meta(ge=0, le=2**31 - 1)]
Stock = Annotated[int, Meta(ge=0, le=1_000_000)]
# Animation and haptics are the app's own formats: any JSON object / array, bounded in size by
# the request body limit and the decoder's depth and item limits.
Animation = dict[str, Any]
Haptics = dict[str, Any] | list[Any]


class NotesIn(Inbound):
    """Note slugs per layer, in the order the fragrance lists them."""

    top: NoteSlugs = []
    heart: NoteSlugs = []
    base: NoteSlugs = []


class NoteCreate(Inbound):
    slug: Annotated[str, Meta(min_length=1, max_length=60, pattern=r"^[a-z0-9]+(-[a-z0-9]+)*$")]
    name: Text(60, min_length=1)
    description: Text(1000) | None = None


class NotePatch(Inbound):
    name: Text(60, min_length=1) | UnsetType = UNSET
    description: Text(1000) | UnsetType | None = UNSET


class FragranceCreate(Inbound):
    slug: Slug
    name: Name
    family: Family
    valence: Unit
    arousal: Unit
    intensity: Intensity
    description: Description = ""
    mood_tags: Annotated[list[MoodTag], Meta(max_length=10)] = []
    seasons: Annotated[list[Season], Meta(max_length=4)] = []
    times_of_day: Annotated[list[TimeOfDay], Meta(max_length=4)] = []
    images: Annotated[list[ImageUrl], Meta(max_length=10)] = []
    popularity: Popularity = 0
    notes: NotesIn = NotesIn()


class FragrancePatch(Inbound):
    """`notes`, when given, replaces all of the fragrance's notes."""

    slug: Slug | UnsetType = UNSET
    name: Name | UnsetType = UNSET
    family: Family | UnsetType = UNSET
    valence: Unit | UnsetType = UNSET
    arousal: Unit | UnsetType = UNSET
    intensity: Intensity | UnsetType = UNSET
    description: Description | UnsetType = UNSET
    mood_tags: Annotated[list[MoodTag], Meta(max_length=10)] | UnsetType = UNSET
    seasons: Annotated[list[Season], Meta(max_length=4)] | UnsetType = UNSET
    times_of_day: Annotated[list[TimeOfDay], Meta(max_length=4)] | UnsetType = UNSET
    images: Annotated[list[ImageUrl], Meta(max_length=10)] | UnsetType = UNSET
    popularity: Popularity | UnsetType = UNSET
    notes: NotesIn | UnsetType = UNSET


class ProductCreate(Inbound):
    fragrance_id: uuid.UUID
    kind: ProductKind
    size: Text(40, min_length=1)
    sku: Annotated[str, Meta(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")]
    price_minor: Money
    currency: Currency
    stock: Stock = 0


class ProductPatch(Inbound):
    """Stock is changed only by `StockChange`, atomically."""

    kind: ProductKind | UnsetType = UNSET
    size: Text(40, min_length=1) | UnsetType = UNSET
    price_minor: Money | UnsetType = UNSET
    currency: Currency | UnsetType = UNSET


class StockChange(Inbound):
    """Added to the stock (negative: taken); a change that would leave it below zero is refused
    whole."""

    delta: Annotated[int, Meta(ge=-1_000_000, le=1_000_000)]


class CollectionCreate(Inbound):
    name: Name
    description: Description | None = None
    is_premium: bool = False
    is_seasonal: bool = False
    start_date: datetime | None = None
    end_date: datetime | None = None


class CollectionPatch(Inbound):
    name: Name | UnsetType = UNSET
    description: Description | UnsetType | None = UNSET
    is_premium: bool | UnsetType = UNSET
    is_seasonal: bool | UnsetType = UNSET
    start_date: datetime | UnsetType | None = UNSET
    end_date: datetime | UnsetType | None = UNSET


class DesignCreate(Inbound):
    name: Name
    collection_id: uuid.UUID | None = None
    description: Description | None = None
    animation_data: Animation = {}
    haptic_pattern: Haptics | None = None
    preview_image: ImageUrl | None = None
    price_minor: Money | None = None
    currency: Currency | None = None
    is_premium: bool = False
    available_from: datetime | None = None
    available_until: datetime | None = None


class DesignPatch(Inbound):
    name: Name | UnsetType = UNSET
    collection_id: uuid.UUID | UnsetType | None = UNSET
    description: Description | UnsetType | None = UNSET
    animation_data: Animation | UnsetType = UNSET
    haptic_pattern: Haptics | UnsetType | None = UNSET
    preview_image: ImageUrl | UnsetType | None = UNSET
    price_minor: Money | UnsetType | None = UNSET
    currency: Currency | UnsetType | None = UNSET
    is_premium: bool | UnsetType = UNSET
    available_from: datetime | UnsetType | None = UNSET
    available_until: datetime | UnsetType | None = UNSET
