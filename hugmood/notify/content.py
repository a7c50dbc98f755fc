"""What a push says: title and body from a small message catalog keyed by locale (English when
the device's language has no entry), the badge, the collapse id and the data the app needs to
`sync`. Adding a language is adding one dictionary to `CATALOG`."""

from __future__ import annotations

from typing import Any

from hugmood.notify.events import collapse_id
from hugmood.notify.models import Notification

BODY_MAX_CHARS = 180  # a lock screen shows about two lines; APNs caps the payload at 4 KB

# locale -> event type -> (title, body without a message); `{name}` is the other person,
# `{emoji}` a reaction. A hug's or request's own message, when it has one, is the body.
CATALOG: dict[str, dict[str, tuple[str, str]]] = {
    "en": {
        "hug.received": ("{name} sent you a hug", "Open HugMood to feel it"),
        "hug.requested": ("{name} could use a hug", "Send them one"),
        "hug.reacted": ("{name} reacted {emoji}", "to your hug"),
        "group_hug.invited": ("{name} invited you to a group hug", "Join them"),
        "group_hug.started": ("Your group hug is starting", "Join now"),
        "order.paid": ("Payment received", "Your order is confirmed"),
    },
    "fr": {
        "hug.received": ("{name} vous a envoyé un câlin", "Ouvrez HugMood pour le ressentir"),
        "hug.requested": ("{name} aurait besoin d'un câlin", "Envoyez-lui-en un"),
        "hug.reacted": ("{name} a réagi {emoji}", "à votre câlin"),
        "group_hug.invited": ("{name} vous invite à un câlin de groupe", "Rejoignez-les"),
        "group_hug.started": ("Votre câlin de groupe commence", "Rejoignez-le"),
        "order.paid": ("Paiement reçu", "Votre commande est confirmée"),
    },
    "es": {
        "hug.received": ("{name} te ha enviado un abrazo", "Abre HugMood para sentirlo"),
        "hug.requested": ("A {name} le vendría bien un abrazo", "Envíale uno"),
        "hug.reacted": ("{name} ha reaccionado {emoji}", "a tu abrazo"),
        "group_hug.invited": ("{name} te invita a un abrazo grupal", "Únete"),
        "group_hug.started": ("Tu abrazo grupal empieza", "Únete ahora"),
        "order.paid": ("Pago recibido", "Tu pedido está confirmado"),
    },
}
DEFAULT_LOCALE = "en"
SOMEONE = {"en": "Someone", "fr": "Quelqu'un", "es": "Alguien"}


def language(locale: str | None) -> str:
    """The catalog entry for a device locale: `fr-CA` -> `fr`, unknown -> English."""
    if locale:
        for candidate in (locale, locale.replace("_", "-").split("-")[0].lower()):
            if candidate in CATALOG:
                return candidate
    return DEFAULT_LOCALE


def _clip(text: str) -> str:
    return text if len(text) <= BODY_MAX_CHARS else text[: BODY_MAX_CHARS - 1] + "…"


def build(
    kind: str,
    seq: int,
    data: dict[str, Any],
    *,
    locale: str | None,
    name: str | None,
    badge: int,
    ttl_secs: int,
) -> Notification:
    """The push for inbox event `seq` of type `kind`; `name` is the other person's display
    name (or username), if the event has one."""
    lang = language(locale)
    title, body = CATALOG[lang].get(kind) or CATALOG[DEFAULT_LOCALE][kind]
    emoji = (data.get("reaction") or {}).get("emoji", "")
    fields = {"name": name or SOMEONE.get(lang, SOMEONE[DEFAULT_LOCALE]), "emoji": emoji}
    message = data.get("message")
    ids = {key: str(data[key]) for key in ("id", "hug_id", "request_id") if data.get(key)}
    return Notification(
        title=_clip(title.format(**fields)),
        body=_clip(message if isinstance(message, str) and message else body.format(**fields)),
        badge=badge,
        collapse_id=collapse_id(kind, data),
        data={"type": kind, "seq": str(seq), **ids},
        ttl_secs=ttl_secs,
    )
