"""The social graph and the one privacy rules module."""
