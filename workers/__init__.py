"""arq workers: slow or scheduled work, publishing events via a write-only emitter."""
