"""Getting events to people: the durable inbox, the event bus and rooms, snapshots."""
