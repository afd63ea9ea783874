"""The preprocess stage's state stores (the ``ProfileStore`` port): a compacted topic on the
bus (``changelog``), or, for the embedded bus that keeps nothing, the database's
transactions (``database``)."""
