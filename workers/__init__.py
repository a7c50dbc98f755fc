"""arq workers: everything slow or scheduled, publishing realtime events via a write-only emitter."""
