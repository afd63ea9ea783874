"""The pure core: transactions, behaviour features, the scoring policy and the ports.

Nothing here imports anything outside the standard library.
"""
