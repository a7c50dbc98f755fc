"""Mood entries: recording, feeds, aggregates and streaks."""
