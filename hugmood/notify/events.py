"""Which durable events are pushed, under which preference category, and what a phone may
collapse them into. No imports from other features: `delivery.inbox` reads it on the hot path."""

from __future__ import annotations

from typing import Any, Literal

Category = Literal["hugs", "hug_requests", "reactions", "group_hugs", "orders"]
CATEGORIES: tuple[Category, ...] = ("hugs", "hug_requests", "reactions", "group_hugs", "orders")

# Event type -> the preference category that mutes it. Receipts (delivered, read) and the
# sender's own `hug.sent` are never pushed: nobody is woken for their own action.
PUSHED: dict[str, Category] = {
    "hug.received": "hugs",
    "hug.requested": "hug_requests",
    "hug.reacted": "reactions",
    "group_hug.invited": "group_hugs",
    "group_hug.started": "group_hugs",
    "order.paid": "orders",
}

PUSH_TOPIC = "push"  # the outbox topic of push intents


def collapse_id(kind: str, data: dict[str, Any]) -> str:
    """One id per conversation (the pair of people, a group hug, an order): a phone shows the
    newest push of a conversation in place of the previous one. At most 64 bytes (APNs)."""
    if kind == "hug.received":
        return f"hugs:{data['sender_id']}"
    if kind == "hug.reacted":
        return f"reactions:{data['hug_id']}"
    if kind == "hug.requested":
        return f"requests:{data['requester']['id']}"
    if kind.startswith("group_hug."):
        return f"group_hug:{data.get('group_hug_id') or data.get('id')}"
    return f"{kind}:{data.get('id') or data.get('order_id')}"
