"""HugMood domain: every product rule lives here; transports (realtime/, rest/, workers/) are thin."""
