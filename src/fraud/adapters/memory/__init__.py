"""In-process adapters: the embedded message bus and an in-memory verdict store."""
