"""HugMood domain: every product rule lives here; transports stay thin."""
