"""The verdict store on SQLAlchemy 2.0 Core: SQLite by default, any SQLAlchemy URL.

``tables`` is the schema (its Alembic twin lives in ``migrations/``), ``rows``
translates between rows and domain objects, ``repository`` and
``unit_of_work`` implement the write side's ports, ``queries`` the read side's,
``engine`` builds a tuned engine and ``migrate`` runs Alembic. Nothing
SQLAlchemy-shaped leaves this package except the ``Engine`` the composition root
hands to the unit-of-work factory and the queries.
"""
