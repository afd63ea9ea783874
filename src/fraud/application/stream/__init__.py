"""The stream: the stages (preprocess, score, record, and the pass of all three), the loop
that runs them, the pipeline of their threads and consumer groups, the state every
preprocess worker shares, and the envelopes the stages' messages travel in.

What a stage knows of its bus is the ports': topics, batches of messages, commits.
Where a user's profile is kept between batches is the state-store port's
(``ProfileStore``), implemented in adapters.
"""
