"""Socket.IO transport: authenticated connections, server-assigned rooms, events over Redis."""
