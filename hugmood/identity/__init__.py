"""Who people are: accounts, passwords, sessions and access tokens."""
