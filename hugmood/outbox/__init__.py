"""The transactional outbox: work to do after a commit, written in the committing transaction."""
