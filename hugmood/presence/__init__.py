"""Who is online, merged over each person's connections."""
