{%- set is_async = cookiecutter | session_style == "async" -%}
{%- set places = cookiecutter.database == "postgresql" and not is_async -%}
"""Prometheus metrics at GET /metrics (METRICS_ENABLED=true): requests, connection pools and
transactions, added up across worker processes through PROMETHEUS_MULTIPROC_DIR
(docs/operations.md, "Metrics")."""

import os
{%- if not places %}
import time
{%- endif %}
from functools import cache
from http import HTTPMethod
{%- if not places %}
from typing import Any, ClassVar
{%- endif %}

from fastapi import APIRouter, Response
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)
from sqlalchemy import Engine, event
{%- if not places %}
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from sqlalchemy.pool import {{ "AsyncAdaptedQueuePool" if is_async else "QueuePool" }}
{%- endif %}
from starlette.types import Scope

_METHODS = frozenset(HTTPMethod)

REQUEST_SECONDS = Histogram(
    "http_request_duration_seconds",
    "Time to answer a request, by route template, method and status (_count: the requests)",
    ["method", "route", "status"],
)
CHECKED_OUT = Gauge(
    "db_pool_connections_checked_out",
    "Connections a pool has lent out",
    ["pool"],
    multiprocess_mode="livesum",
)
SIZE = Gauge(
    "db_pool_size",
    "Connections a pool keeps open (POOL_SIZE)",
    ["pool"],
    multiprocess_mode="livesum",
)
OVERFLOW = Gauge(
    "db_pool_overflow",
    "Connections open beyond a pool's size (at most MAX_OVERFLOW)",
    ["pool"],
    multiprocess_mode="livesum",
)
WAIT_SECONDS = Histogram(
    "db_pool_wait_seconds",
    "Time a request waited for a connection",
    ["pool"],
    buckets=(0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 2.5, 5, 10),
)
TIMEOUTS = Counter(
    "db_pool_timeouts",
    "Requests that waited POOL_TIMEOUT for a connection and got none (each a 503)",
    ["pool"],
)
TRANSACTIONS = Counter(
    "db_transactions",
    "Transactions of the requests that write, by outcome: commit or rollback",
    ["pool", "outcome"],
)
{%- if cookiecutter.database == "postgresql" %}
RETRIES = Counter(
    "db_transaction_retries",
    "Units of work run again because their transaction lost to a concurrent one, by SQLSTATE"
    " and work (a request, or Database.transaction's)",
    ["sqlstate", "work"],
)
{%- endif %}

router = APIRouter()


@router.get("/metrics", include_in_schema=False)
def metrics() -> Response:
    """The figures, in Prometheus's text format: every worker's, added up, if there are several."""
    registry = REGISTRY
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)


def worker_stopped() -> None:
    """Drop this process's gauges from what the other workers report."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        multiprocess.mark_process_dead(os.getpid())  # type: ignore[no-untyped-call]


def observe(scope: Scope, status: int, seconds: float) -> None:
    """A request answered, by the template of the route that answered it (`/items/{item_id}`,
    never the path itself, which a client chooses); see middleware.RequestLog."""
    route = getattr(scope.get("route"), "path", "unmatched")
    method = scope["method"] if scope["method"] in _METHODS else "other"
    _requests(method, route, status).observe(seconds)


# A metric's labelled series, looked up once (the labels are bounded: methods, routes, statuses).
@cache
def _requests(method: str, route: str, status: int) -> Histogram:
    return REQUEST_SECONDS.labels(method, route, str(status))


@cache
def _waits(pool: str) -> Histogram:
    return WAIT_SECONDS.labels(pool)
{%- if not places %}


class TimedPool({{ "AsyncAdaptedQueuePool" if is_async else "QueuePool" }}):
    """The engines' pool, timing each wait for a connection (opening a new one included)."""

    metrics_name: ClassVar[str]

    def connect(self) -> Any:
        started = time.perf_counter()
        try:
            return super().connect()
        except PoolTimeoutError:
            TIMEOUTS.labels(self.metrics_name).inc()
            raise
        finally:
            _waits(self.metrics_name).observe(time.perf_counter() - started)


class WritePool(TimedPool):
    metrics_name = "write"


class ReadPool(TimedPool):
    metrics_name = "read"


POOLS: dict[str, type[TimedPool]] = {"write": WritePool, "read": ReadPool}
{%- endif %}


def watch(engine: Engine, pool: str) -> None:
    """Count `engine`'s connections in and out of its pool, and, for the writes, its
    transactions."""
    SIZE.labels(pool).set(engine.pool.size())  # type: ignore[attr-defined]
    checked_out, overflow = CHECKED_OUT.labels(pool), OVERFLOW.labels(pool)

    def lent(*_: object) -> None:
        checked_out.inc()
        overflow.set(max(0, engine.pool.overflow()))  # type: ignore[attr-defined]

    def returned(*_: object) -> None:
        checked_out.dec()
        overflow.set(max(0, engine.pool.overflow()))  # type: ignore[attr-defined]

    event.listen(engine, "checkout", lent)
    event.listen(engine, "checkin", returned)
    if pool == "write":
        # Only the writes' transactions: a listener of an engine's connection events makes
        # SQLAlchemy dispatch events around every statement it runs, a read's too.
        committed = TRANSACTIONS.labels(pool, "commit")
        rolled_back = TRANSACTIONS.labels(pool, "rollback")
        event.listen(engine, "commit", lambda _connection: committed.inc())
        event.listen(engine, "rollback", lambda _connection: rolled_back.inc())
{%- if places %}


def waited(pool: str, seconds: float, *, timed_out: bool) -> None:
    """A request's wait for its place in line for a connection (see database.Database)."""
    _waits(pool).observe(seconds)
    if timed_out:
        TIMEOUTS.labels(pool).inc()
{%- endif %}
{%- if cookiecutter.database == "postgresql" %}


def retried(code: str, work: str = "request") -> None:
    """A request or another unit of work run again after its transaction lost to a concurrent
    one (see retries.py)."""
    RETRIES.labels(code.removeprefix("SQLSTATE "), work).inc()
{%- endif %}
