"""What each test needs, as markers, so that a run can pick a tier and start only the
services its tests need.

A test is marked from where it lives (``tests/kafka/`` needs the broker) and from the
fixtures it uses, however indirectly (``postgres_url``, a ``postgresql`` parameter,
``small_model``): nobody has to remember to mark it. What no directory or fixture shows
(a model trained or loaded in-process, a test that takes long) is marked in its module.

``make check`` runs the fast tier (the Makefile's ``FAST``): no service, no process, no
browser, no TensorFlow.
Whatever the tier, a test that imports TensorFlow without the ``tensorflow`` mark fails,
and so does a collection that imports it at module level: either would make the fast
tier slow without anyone noticing.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent

# The services `make test` starts, each for the tests marked with its name.
SERVICES = ("kafka", "cluster", "postgres")

DIRECTORIES = {"kafka": "kafka", "cluster": "cluster", "e2e": "e2e"}
FIXTURES = {
    "kafka_bootstrap": "kafka",
    "cluster_bootstrap": "cluster",
    "postgres_url": "postgres",
    "migrated_postgres_url": "postgres",
    "small_model": "tensorflow",
    "second_model": "tensorflow",
    "first_run": "tensorflow",
    "browser": "browser",
}
# A parameter with this value gives the test a PostgreSQL database (tests/postgres.py).
POSTGRES_PARAMETER = "postgresql"


def needs(item: pytest.Item) -> set[str]:
    """The markers ``item`` gets from its directory, its fixtures and its parameters."""
    found: set[str] = set()
    parts = Path(str(item.path)).resolve().relative_to(TESTS).parts
    if parts and parts[0] in DIRECTORIES:
        found.add(DIRECTORIES[parts[0]])
    found.update(FIXTURES[name] for name in getattr(item, "fixturenames", ()) if name in FIXTURES)
    callspec = getattr(item, "callspec", None)
    if callspec is not None and POSTGRES_PARAMETER in callspec.params.values():
        found.add("postgres")
    return found


# Tests that share something run one after the other on one xdist worker: the cluster's
# tests kill and restart its nodes, one `fraud run` serves the tests that only add to it, and
# one first start (which trains the default model) serves the tests of a fresh clone's start.
SERIAL_GROUPS = {"cluster": "cluster"}
SHARED_FIXTURES = {"shared_service": "shared-service", "first_run": "first-run"}


# Tests that load TensorFlow into the pytest process itself (their module marks them
# `tensorflow`; a model fixture only trains in a `fraud train` process): each xdist worker
# that runs one pays TensorFlow's import, 4.8 s of CPU here, and seven of eight did. They run
# on two workers, a module's tests together, the modules dealt alternately in name order.
IN_PROCESS_TENSORFLOW_GROUPS = ("tensorflow-1", "tensorflow-2")


# Modules whose tests share a service per xdist worker, dealt alternately into this many
# groups: the API contract's 65 operations spread over every worker started eight `fraud run`
# services (2.2 s of CPU each to start, 1.2% of a core each while idle to the run's end).
SHARED_PER_WORKER = {"tests/e2e/test_api_contract.py": 2}


def mark(items: list[pytest.Item]) -> None:
    in_process_tensorflow = sorted(
        {
            item.nodeid.split("::")[0]
            for item in items
            if any(marker.name == "tensorflow" for marker in item.iter_markers())
        }
    )
    tensorflow_group = {
        module: IN_PROCESS_TENSORFLOW_GROUPS[i % len(IN_PROCESS_TENSORFLOW_GROUPS)]
        for i, module in enumerate(in_process_tensorflow)
    }
    dealt: dict[str, int] = {}
    for item in items:
        for name in sorted(needs(item) - {marker.name for marker in item.iter_markers()}):
            item.add_marker(name)
        if item.get_closest_marker("xdist_group"):
            continue
        module = item.nodeid.split("::")[0]
        groups = [group for name, group in SERIAL_GROUPS.items() if item.get_closest_marker(name)]
        groups += [
            group
            for name, group in SHARED_FIXTURES.items()
            if name in getattr(item, "fixturenames", ())
        ]
        if not groups and module in SHARED_PER_WORKER:
            dealt[module] = dealt.get(module, 0) + 1
            groups.append(f"{module}#{dealt[module] % SHARED_PER_WORKER[module] + 1}")
        if not groups and module in tensorflow_group and not needs(item) & set(SERVICES):
            groups.append(tensorflow_group[module])
        if not groups and uses_a_module_fixture(item):
            groups.append(module)
        if groups:
            item.add_marker(pytest.mark.xdist_group(groups[0]))


# What xdist hands out first: the long chains (the cluster's group, the first start), then
# what starts processes, then the rest, the many quick unit tests last, where they fill the
# workers' ends evenly instead of one long test making the run wait for it alone.
FIRST_GROUPS = ("cluster", "first-run", *IN_PROCESS_TENSORFLOW_GROUPS)
# The modules whose tests took longest in a full run (`--cpu-report` gives each test's wall
# and CPU seconds), longest first: handed out right after the chains, where they overlap the
# rest, instead of last of their kind, where one made the run wait for it alone (the retrain
# test started 460 s into a 750 s run and ended it; a unit test of 75 s did the same).
LONGEST_MODULES = (
    "tests/e2e/test_retrain_command.py",
    "tests/e2e/test_archive_signing.py",
    "tests/e2e/test_model_registry_service.py",
    "tests/kafka/test_model_workers.py",
    "tests/e2e/test_model_commands.py",
    "tests/kafka/test_broker_outage.py",
    "tests/e2e/test_backup_under_load.py",
    "tests/unit/test_rule_properties.py",
    "tests/unit/test_contract_properties.py",
    "tests/unit/test_prometheus_rules.py",
)
ORDER = ("cluster", "e2e", "kafka", "browser", "slow", "tensorflow", "postgres", "integration")


def heaviest_first(items: list[pytest.Item]) -> None:
    """Reorder ``items`` (stably: a module's tests keep their order) so the longest go first."""

    def rank(item: pytest.Item) -> int:
        marker = item.get_closest_marker("xdist_group")
        group = str(marker.args[0]) if marker is not None and marker.args else ""
        if group in FIRST_GROUPS or group.split("#")[0] in SHARED_PER_WORKER:
            return 0
        module = item.nodeid.split("::")[0]
        if module in LONGEST_MODULES:
            return 1 + LONGEST_MODULES.index(module)
        names = {marker.name for marker in item.iter_markers()}
        rank = next((i for i, name in enumerate(ORDER) if name in names), len(ORDER))
        return 1 + len(LONGEST_MODULES) + rank

    items.sort(key=rank)


def uses_a_module_fixture(item: pytest.Item) -> bool:
    """Whether ``item`` uses a fixture made once per module (a trained network, a service, a
    browser): its module's tests then run on one xdist worker, which makes it once, where
    tests spread over four workers would make it up to four times."""
    info = getattr(item, "_fixtureinfo", None)
    if info is None:
        return False
    return any(
        definition.scope == "module"
        for definitions in info.name2fixturedefs.values()
        for definition in definitions
    )


def services_needed(items: list[pytest.Item]) -> list[str]:
    """The services the selected ``items`` need, in :data:`SERVICES` order."""
    marked = {marker.name for item in items for marker in item.iter_markers()}
    return [service for service in SERVICES if service in marked]


def refuse_tensorflow_at_collection(config: pytest.Config) -> None:
    """A test module that imports TensorFlow when collected costs every run, the fast tier
    included, seconds before the first test: import it in the fixture or test instead."""
    if "tensorflow" in sys.modules and not config.getoption("collectonly"):
        modules = [name for name in sys.modules if name.startswith("tests.")]
        raise pytest.UsageError(
            "TensorFlow was imported while the tests were collected; a test module imports "
            f"it (or fraud.adapters.tensorflow) at module level. Test modules loaded: "
            f"{', '.join(sorted(modules))}"
        )


def guard_tensorflow(item: pytest.Item) -> Iterator[None]:
    """Around a test's call (a hook wrapper's body): fail a test that imported TensorFlow
    without the ``tensorflow`` mark, seen where it is the first to import it (as in the
    fast tier)."""
    before = "tensorflow" in sys.modules
    result = yield
    if not before and "tensorflow" in sys.modules and item.get_closest_marker("tensorflow") is None:
        pytest.fail(
            "this test imports TensorFlow but is not marked `tensorflow`: mark it (tests/tiers.py)",
            pytrace=False,
        )
    return result
