"""Push notifications: devices, preferences, push intents, judging, content and providers."""
