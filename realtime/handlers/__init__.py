"""Client events: one module per event family, each handler a thin call into the domain.

`EVENTS` maps each event name to its payload Struct and handler; the server's dispatcher does
the shared work (auth context, rate limit, validation, error mapping) for all of them.
"""

from __future__ import annotations

from realtime.handlers import delivery, group_hugs, hugs, moods, presence, session
from realtime.handlers.event import ClientEvent

EVENTS: dict[str, ClientEvent] = {
    **hugs.EVENTS,
    **delivery.EVENTS,
    **presence.EVENTS,
    **moods.EVENTS,
    **session.EVENTS,
    **group_hugs.EVENTS,
}
