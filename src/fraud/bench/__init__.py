"""``fraud bench``: the pipeline measured as its users drive it, through worker processes.

A layer of its own between the entrypoints and the composition root: a
benchmark times the adapters themselves (the Kafka client, the SQL upsert, the
model call), so, unlike an entrypoint, it may name them.
"""

PHASES = ("ceiling", "throughput", "latency", "http", "users", "replay", "profile")
# How the transactions reach `transactions`: plain JSON from kcat, or the API's envelopes.
PATHS = ("kcat", "api")
