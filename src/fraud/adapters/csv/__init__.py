"""CSV files of transactions: the labelled format for training and evaluation, read and written.

The columns are DESIGN.md's transaction contract plus ``is_fraud``; every row is
validated by the same :meth:`~fraud.domain.transaction.Transaction.parse` the
API uses, so a file cannot smuggle in what a client could not send.
"""
