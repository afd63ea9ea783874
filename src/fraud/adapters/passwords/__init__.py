"""Password hashing (argon2id, by argon2-cffi)."""
