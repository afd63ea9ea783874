"""The ``SchemaMigrator`` port on the migrations in ``migrations/``.

Every command and service start migrates its database first, and nearly always finds it
already at this code's newest revision. Alembic learns that by loading itself and every
revision script: 0.2 s of CPU, a tenth of a short command's. A database whose recorded
revision is ``SCHEMA_HEAD`` is left as it is without loading Alembic; any other (none yet,
an older one, one this code does not know) is Alembic's to upgrade or to refuse.
"""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from fraud.adapters.sqlalchemy.engine import create_engine_for

# The newest revision in migrations/versions; a test holds it to Alembic's head.
SCHEMA_HEAD = "0020"


class SqlMigrator:
    """Upgrades the database at ``url`` through Alembic unless it is at ``SCHEMA_HEAD``."""

    def __init__(self, url: str) -> None:
        self.url = url

    def upgrade(self, revision: str = "head") -> None:
        if revision in ("head", SCHEMA_HEAD) and recorded_revisions(self.url) == [SCHEMA_HEAD]:
            return
        from fraud.adapters.sqlalchemy.migrate import upgrade

        upgrade(self.url, revision)

    def revisions(self) -> list[str]:
        from fraud.adapters.sqlalchemy.migrate import revisions

        return revisions()


def recorded_revisions(url: str) -> list[str]:
    """The revisions Alembic recorded in the database at ``url``: none before the first
    migration, or where the database cannot be read (Alembic then says why)."""
    engine = create_engine_for(url)
    try:
        with engine.connect() as connection:
            found = connection.execute(text("SELECT version_num FROM alembic_version"))
            return list(found.scalars())
    except DBAPIError:
        return []
    finally:
        engine.dispose()
