"""Every Alembic revision goes up, down to base and up again, and head matches ``tables``,
on SQLite and on PostgreSQL."""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError

from fraud.adapters.sqlalchemy.engine import create_engine_for
from fraud.adapters.sqlalchemy.migrate import (
    MigrationsNotFound,
    current,
    downgrade,
    find_migrations,
    head,
    revisions,
    upgrade,
)
from fraud.adapters.sqlalchemy.migrator import SCHEMA_HEAD, SqlMigrator
from fraud.adapters.sqlalchemy.tables import metadata

pytestmark = pytest.mark.integration


@pytest.fixture
def url(database_url: str) -> str:
    return database_url


@pytest.fixture
def engine(url: str) -> Iterator[Engine]:
    engine = create_engine_for(url)
    yield engine
    engine.dispose()


def tables(engine: Engine) -> set[str]:
    return set(inspect(engine).get_table_names()) - {"alembic_version"}


def test_every_revision_goes_up_down_and_up_again(url: str, engine: Engine) -> None:
    steps = revisions()
    assert steps, "no revisions found"
    assert steps[-1] == head()
    assert current(url) is None

    for revision in steps:
        upgrade(url, revision)
        assert current(url) == revision
    assert "transactions" in tables(engine)

    for previous in [*reversed(steps[:-1]), None]:
        downgrade(url, previous or "base")
        assert current(url) == previous
    assert tables(engine) == set()

    upgrade(url)
    assert current(url) == head()
    assert "transactions" in tables(engine)


def test_head_matches_the_tables_the_adapter_uses(url: str, engine: Engine) -> None:
    upgrade(url)
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        assert compare_metadata(context, metadata) == []
    indexes = {index["name"] for index in inspect(engine).get_indexes("transactions")}
    assert indexes == {
        "ix_transactions_received_at",
        "ix_transactions_decision_received_at",
        "ix_transactions_status_decision",
        "ix_transactions_timestamp",
        "ix_transactions_unpublished",
        "ix_transactions_user_received_at",
    }
    activity_indexes = {index["name"] for index in inspect(engine).get_indexes("verdict_activity")}
    assert activity_indexes == {"ix_verdict_activity_second"}


def test_upgrading_twice_changes_nothing(url: str) -> None:
    upgrade(url)
    upgrade(url)
    assert current(url) == head()


def test_the_migrator_knows_alembics_head() -> None:
    assert head() == SCHEMA_HEAD, "a new revision: SCHEMA_HEAD in adapters/sqlalchemy/migrator.py"


def test_the_migrator_upgrades_a_database_short_of_head_and_leaves_one_at_head_unread(
    url: str,
) -> None:
    """What a command does first: from nothing, or from the revision before head, to head;
    at head, in a process of its own, without loading Alembic."""
    SqlMigrator(url).upgrade()
    assert current(url) == head()
    downgrade(url, revisions()[-2])
    SqlMigrator(url).upgrade()
    assert current(url) == head()
    at_head = (
        "import sys\n"
        "from fraud.adapters.sqlalchemy.migrator import SqlMigrator\n"
        f"SqlMigrator({url!r}).upgrade()\n"
        "print(sorted(name for name in sys.modules if name.split('.')[0] == 'alembic'))\n"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", at_head], capture_output=True, text=True, timeout=60, check=True
    )
    assert loaded.stdout.strip() == "[]"
    assert current(url) == head()


def test_a_database_from_newer_code_is_left_to_alembic_to_refuse(url: str, engine: Engine) -> None:
    upgrade(url)
    with engine.begin() as connection:
        connection.execute(text("UPDATE alembic_version SET version_num = '9999'"))
    with pytest.raises(Exception, match="9999"):
        SqlMigrator(url).upgrade()


def test_the_migrations_folder_is_found_from_the_package_or_given(tmp_path: Path) -> None:
    found = find_migrations()
    assert (found / "env.py").is_file()
    assert revisions(migrations=found) == revisions()

    foreign = tmp_path / "other-project" / "migrations"
    foreign.mkdir(parents=True)
    (foreign / "env.py").write_text("target_metadata = other_project.metadata\n")
    with pytest.raises(MigrationsNotFound):
        find_migrations(tmp_path / "other-project" / "src")
    with pytest.raises(MigrationsNotFound):
        upgrade(f"sqlite:///{tmp_path / 'x.db'}", migrations=tmp_path)


BROKEN_REVISION = """
import sqlalchemy as sa
from alembic import op

revision = "9999"
down_revision = "{down}"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table("half_done", sa.Column("id", sa.Integer(), primary_key=True))
    op.add_column("transactions", sa.Column("note", sa.Text()))
    raise RuntimeError("revision failed halfway")


def downgrade() -> None:
    pass
"""


def test_a_failing_revision_leaves_the_schema_as_it_was(
    url: str, engine: Engine, tmp_path: Path
) -> None:
    migrations = tmp_path / "migrations"
    shutil.copytree(find_migrations(), migrations, ignore=shutil.ignore_patterns("__pycache__"))
    (migrations / "versions" / "9999_broken.py").write_text(BROKEN_REVISION.format(down=head()))
    upgrade(url)

    with pytest.raises(RuntimeError, match="failed halfway"):
        upgrade(url, migrations=migrations)

    assert current(url) == head()
    assert tables(engine) == {
        "transactions",
        "verdict_activity",
        "verdict_versions",
        "label_history",
        "dead_letter_replays",
        "api_keys",
        "accounts",
        "sessions",
        "audit_events",
        "service_secrets",
        "rules",
        "rule_changes",
        "models",
        "model_roles",
        "model_thresholds",
        "model_canary",
        "drift_tallies",
        "rule_tallies",
        "queues",
        "cases",
        "case_notes",
        "case_events",
        "value_lists",
        "list_entries",
        "list_changes",
        "webhook_subscriptions",
        "webhook_deliveries",
        "webhook_attempts",
    }
    columns = {column["name"] for column in inspect(engine).get_columns("transactions")}
    assert "note" not in columns


LABEL_COLUMNS = {"label_is_fraud", "label_analyst", "labelled_at"}


def test_the_label_columns_come_and_go_keeping_the_rows(url: str, engine: Engine) -> None:
    upgrade(url, "0001")
    with engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO transactions (transaction_id, user_id, amount, currency, merchant,"
                " timestamp, merchant_type, device_type, location_match, received_at, status,"
                " updated_at) VALUES ('t1', 'u1', 12.5, 'EUR', 'Shop', '2024-03-01 12:00:00',"
                " 'grocery', 'pos', TRUE, '2024-03-01 12:00:01', 'pending', '2024-03-01 12:00:01')"
            )
        )

    upgrade(url, "0002")
    columns = {column["name"] for column in inspect(engine).get_columns("transactions")}
    assert columns >= LABEL_COLUMNS
    with engine.connect() as connection:
        row = connection.execute(
            text("SELECT transaction_id, label_is_fraud, labelled_at FROM transactions")
        ).one()
    assert tuple(row) == ("t1", None, None)

    downgrade(url, "0001")
    columns = {column["name"] for column in inspect(engine).get_columns("transactions")}
    assert not LABEL_COLUMNS & columns
    with engine.connect() as connection:
        assert connection.execute(text("SELECT count(*) FROM transactions")).scalar() == 1


def test_the_ledger_revision_keeps_what_was_published_and_labelled(
    url: str, engine: Engine
) -> None:
    """Rows stored before the outbox were published; labels given before become history."""
    upgrade(url, "0004")
    with engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO transactions (transaction_id, user_id, amount, currency, merchant,"
                " timestamp, merchant_type, device_type, location_match, received_at, status,"
                " label_is_fraud, label_analyst, labelled_at, updated_at) VALUES ('t1', 'u', 1.0,"
                " 'USD', 'm', '2025-01-01 00:00:00', 'online', 'pos', TRUE, '2025-01-01 00:00:01',"
                " 'pending', TRUE, 'ana', '2025-01-02 00:00:00', '2025-01-01 00:00:01')"
            )
        )
    upgrade(url)
    with engine.connect() as connection:
        published = connection.execute(text("SELECT published_at FROM transactions")).scalar()
        history = connection.execute(
            text("SELECT transaction_id, is_fraud, analyst, previous_is_fraud FROM label_history")
        ).all()
    assert str(published).startswith("2025-01-01 00:00:01")
    assert [tuple(row) for row in history] == [("t1", 1, "ana", None)]
    downgrade(url, "0004")
    assert tables(engine) == {"transactions", "verdict_activity"}


def test_the_rules_revision_widens_the_audit_log_and_narrows_it_back(
    url: str, engine: Engine
) -> None:
    upgrade(url, "0007")
    insert_event = text(
        "INSERT INTO audit_events (at, actor, action, target, source, succeeded, detail)"
        " VALUES ('2026-12-03 10:00:00', 'alice', :action, 'gift-cards', '', true, '')"
    )
    with engine.begin() as connection:
        connection.execute(insert_event, {"action": "label"})
        connection.execute(insert_event, {"action": "rule.added"})
    with pytest.raises(IntegrityError), engine.begin() as connection:
        connection.execute(insert_event, {"action": "rule.deleted"})

    downgrade(url, "0006")
    with engine.begin() as connection:
        kept = connection.execute(text("SELECT action FROM audit_events")).scalars().all()
    assert kept == ["label"]
    with pytest.raises(IntegrityError), engine.begin() as connection:
        connection.execute(insert_event, {"action": "rule.added"})


def test_the_registry_revision_widens_the_audit_log_and_narrows_it_back(
    url: str, engine: Engine
) -> None:
    upgrade(url, "0008")
    insert_event = text(
        "INSERT INTO audit_events (at, actor, action, target, source, succeeded, detail)"
        " VALUES ('2026-12-03 10:00:00', 'alice', :action, 'v2', '', true, '')"
    )
    with engine.begin() as connection:
        connection.execute(insert_event, {"action": "rule.added"})
        connection.execute(insert_event, {"action": "model.role"})
    downgrade(url, "0007")
    with engine.begin() as connection:
        kept = connection.execute(text("SELECT action FROM audit_events")).scalars().all()
    assert kept == ["rule.added"]
    assert not {"models", "model_roles", "model_thresholds"} & tables(engine)
    with pytest.raises(IntegrityError), engine.begin() as connection:
        connection.execute(insert_event, {"action": "model.registered"})


def test_the_signing_revision_leaves_older_archives_unsigned_and_goes_back(
    url: str, engine: Engine
) -> None:
    upgrade(url, "0011")
    with engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO models (version, card, archive, archive_sha256, registered_at,"
                " registered_by) VALUES ('old', '{}', :archive, 'sha', '2026-12-01 10:00:00',"
                " 'alice')"
            ),
            {"archive": b"zip"},
        )
    insert_event = text(
        "INSERT INTO audit_events (at, actor, action, target, source, succeeded, detail)"
        " VALUES ('2026-12-06 10:00:00', 'alice', :action, 'old', '', true, '')"
    )
    with pytest.raises(IntegrityError), engine.begin() as connection:
        connection.execute(insert_event, {"action": "model.signed"})

    upgrade(url, "0012")
    with engine.begin() as connection:
        signature = connection.execute(text("SELECT archive_signature FROM models")).scalar()
        connection.execute(insert_event, {"action": "model.role"})
        connection.execute(insert_event, {"action": "model.signed"})
    assert signature is None  # registered before signing: an admin signs it

    downgrade(url, "0011")
    columns = {column["name"] for column in inspect(engine).get_columns("models")}
    assert "archive_signature" not in columns
    with engine.connect() as connection:
        kept = connection.execute(text("SELECT action FROM audit_events")).scalars().all()
        assert connection.execute(text("SELECT version FROM models")).scalar() == "old"
    assert kept == ["model.role"]


def test_the_cases_lists_and_webhooks_revisions_widen_the_audit_log_and_narrow_it_back(
    url: str, engine: Engine
) -> None:
    upgrade(url, "0016")
    insert_event = text(
        "INSERT INTO audit_events (at, actor, action, target, source, succeeded, detail)"
        " VALUES ('2026-12-07 10:00:00', 'alice', :action, 'x', '', true, '')"
    )
    with engine.begin() as connection:
        for action in ("case.resolved", "queue.changed", "list.entry_added", "webhook.added"):
            connection.execute(insert_event, {"action": action})
        default = connection.execute(text("SELECT name, sla_s FROM queues")).all()
    assert [tuple(row) for row in default] == [("default", 4 * 3600)]

    downgrade(url, "0014")
    with engine.connect() as connection:
        kept = connection.execute(text("SELECT action FROM audit_events")).scalars().all()
    assert sorted(kept) == ["case.resolved", "queue.changed"]
    assert not {"value_lists", "webhook_deliveries"} & tables(engine)
    with pytest.raises(IntegrityError), engine.begin() as connection:
        connection.execute(insert_event, {"action": "webhook.added"})
    downgrade(url, "0013")
    assert not {"cases", "queues", "case_events"} & tables(engine)
