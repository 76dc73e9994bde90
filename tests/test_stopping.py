"""Stopping a served project as an orchestrator does, with SIGTERM, while a write waits on a lock
held outside the service (a row's on PostgreSQL, the database's write lock on SQLite): a
request that finishes within the shutdown bound is answered and stored; one still running at
the bound is rolled back, its client gets no success, and the process exits within the bound
plus a second, leaving no connection behind."""

from __future__ import annotations

import json
import signal
import sqlite3
import time
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any
from urllib.request import Request, urlopen

import psycopg
import pytest

from .baking import Project
from .test_variants import migrated_database

pytestmark = pytest.mark.slow

BOUND = 3  # seconds: --timeout-graceful-shutdown, given after the README's own
RELEASED_AFTER = 1.0  # seconds after SIGTERM that the lock is released, for a request to finish


def as_pid_1() -> None:
    signal.signal(signal.SIGTERM, signal.SIG_IGN)


def call(method: str, url: str, body: dict[str, Any] | None = None) -> int | str:
    """The status of a request, or "closed" if the connection closed without an answer."""
    data = json.dumps(body).encode() if body is not None else None
    request = Request(url, data=data, method=method, headers={"content-type": "application/json"})
    try:
        with urlopen(request, timeout=30) as response:
            return int(response.status)
    except OSError as error:  # HTTPError is an OSError too: an answer, with its status
        return int(code) if (code := getattr(error, "code", None)) else "closed"


class Lock:
    """A lock held outside the service, on the item's row (PostgreSQL) or on writing at all
    (SQLite), until `release`."""

    def __init__(self, url: str, item_id: int) -> None:
        self.url = url
        self.connection: Any
        if url.startswith("sqlite"):
            self.connection = sqlite3.connect(url.removeprefix("sqlite:///"), isolation_level=None)
            self.connection.execute("BEGIN IMMEDIATE")
        else:
            self.connection = psycopg.connect(url)
            self.connection.execute("SELECT * FROM items WHERE id = %s FOR UPDATE", (item_id,))

    def wait_until_waited_on(self) -> None:
        """Until the service's statement waits for the lock (SQLite cannot tell: a moment)."""
        if self.url.startswith("sqlite"):
            time.sleep(0.5)
            return
        deadline = time.monotonic() + 10
        while not self.waiting():
            assert time.monotonic() < deadline, "no statement of the service waits for the lock"
            time.sleep(0.05)

    def waiting(self) -> int:
        waiting = "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
        with psycopg.connect(self.url, autocommit=True) as other:
            count = other.execute(f"{waiting} AND datname = current_database()").fetchone()
            return int(count[0]) if count else 0

    def release(self) -> None:
        self.connection.execute("ROLLBACK")
        self.connection.close()


def title(url: str, item_id: int) -> str:
    if url.startswith("sqlite"):
        with sqlite3.connect(url.removeprefix("sqlite:///")) as connection:
            row = connection.execute("SELECT title FROM items WHERE id = ?", (item_id,)).fetchone()
            return str(row[0])
    with psycopg.connect(url) as connection:
        found = connection.execute("SELECT title FROM items WHERE id = %s", (item_id,)).fetchone()
        assert found, f"no item {item_id}"
        return str(found[0])


def left_on_the_server(lock: Lock) -> list[tuple[Any, ...]]:
    """The service's connections that PostgreSQL still has, a moment after the service exited:
    those to its database but the lock's and this one."""
    query = (
        "SELECT pid, state FROM pg_stat_activity"
        " WHERE datname = current_database() AND pid NOT IN (pg_backend_pid(), %s)"
    )
    with psycopg.connect(lock.url, autocommit=True) as connection:
        deadline = time.monotonic() + 2
        pid = (lock.connection.info.backend_pid,)
        while (rows := connection.execute(query, pid).fetchall()) and time.monotonic() < deadline:
            time.sleep(0.05)
        return rows


def stopped_while_a_write_waits(
    project: Project, env: dict[str, str], log: Path, *, release: bool
) -> tuple[int | str, float, str]:
    """Serve, create an item, hold a lock its update must wait for, send the update, then
    SIGTERM; release the lock RELEASED_AFTER seconds later (`release`) or only once the
    process has exited. The server starts as the first process of a container does, SIGTERM's
    default action ignored (uvicorn raises it again as it ends): it must end by itself, not be
    killed by its own signal with requests still running. Return the update's answer, the
    seconds from SIGTERM to exit, and the item's title as stored."""
    url = env["DATABASE_URL"]
    options = ("--timeout-graceful-shutdown", str(BOUND))
    assert options[0] in project.readme_command("serve on http://127.0.0.1:8000")
    with project.server(env, log, *options, preexec_fn=as_pid_1) as (base, server):
        assert call("POST", f"{base}/items", {"title": "Before", "sku": "STOP-1"}) == 201
        lock = Lock(url, 1)
        with ThreadPoolExecutor(1) as pool:
            update: Future[int | str] = pool.submit(
                call, "PATCH", f"{base}/items/1", {"title": "After"}
            )
            lock.wait_until_waited_on()
            signalled = time.monotonic()
            server.send_signal(signal.SIGTERM)
            if release:
                time.sleep(RELEASED_AFTER)
                lock.release()
            server.wait(timeout=BOUND + 30)
            seconds = time.monotonic() - signalled
            answer = update.result()
        if not release:
            if not url.startswith("sqlite"):
                assert left_on_the_server(lock) == [], "the service's connections outlived it"
            lock.release()
    return answer, seconds, title(url, 1)


@pytest.mark.defaults_only
@pytest.mark.parametrize("workers", ["1", "2"])
def test_a_request_in_flight_at_sigterm_finishes_and_is_stored(
    project: Project, tmp_path: Path, request: pytest.FixtureRequest, workers: str
) -> None:
    env = migrated_database(project, tmp_path, request) | {"WEB_CONCURRENCY": workers}
    if project.answers["database"] == "sqlite":
        env["BUSY_TIMEOUT"] = str(BOUND + 30)  # the write waits as long as the lock is held
    log = tmp_path / "server.log"

    answer, seconds, stored = stopped_while_a_write_waits(project, env, log, release=True)

    assert (answer, stored) == (200, "After"), log.read_text()
    assert seconds < RELEASED_AFTER + 1, log.read_text()  # it left as soon as it was done
    print(f"{project.id}, {workers} worker(s): exited {seconds:.2f} s after SIGTERM")


@pytest.mark.defaults_only
@pytest.mark.parametrize("workers", ["1", "2"])
def test_a_request_still_running_at_the_bound_is_rolled_back_and_the_process_exits_in_time(
    project: Project, tmp_path: Path, request: pytest.FixtureRequest, workers: str
) -> None:
    env = migrated_database(project, tmp_path, request) | {"WEB_CONCURRENCY": workers}
    limit = BOUND + 1
    if project.answers["database"] == "sqlite":
        # Nothing interrupts SQLite's wait for its lock: the write waits past the bound, and the
        # process exits once it gives up, BUSY_TIMEOUT after it began, as the README says.
        env["BUSY_TIMEOUT"] = str(BOUND + 2)
        limit = BOUND + 2 + 1
    log = tmp_path / "server.log"

    answer, seconds, stored = stopped_while_a_write_waits(project, env, log, release=False)

    assert answer in (503, "closed"), log.read_text()
    assert "Exception in ASGI application" not in log.read_text()
    assert stored == "Before", log.read_text()
    assert seconds < limit, log.read_text()
    print(
        f"{project.id}, {workers} worker(s): answer {answer}, exited {seconds:.2f} s after SIGTERM"
    )
