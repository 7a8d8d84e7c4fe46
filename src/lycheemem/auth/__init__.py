"""Authentication: password hashing, JWTs, user accounts and login rate limiting."""
