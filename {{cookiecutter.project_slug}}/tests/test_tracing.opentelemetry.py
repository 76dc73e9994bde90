{%- set is_async = cookiecutter | session_style == "async" -%}
{%- set aw = "await " if is_async else "" -%}
"""Traces: each request's server span holds its transaction's span and its statements' spans,
and its log lines carry its trace's id. (The template's own tests send them, from a served
project, to a real OTLP receiver.)"""

import json
import os
import secrets
import subprocess
import sys
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from clients import client_for
from database_fixtures import MakeSettings
from httpx2 import AsyncClient
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanContext, SpanKind, StatusCode

from {{ cookiecutter.package_name }}.database import create_db_engine, open_database
from {{ cookiecutter.package_name }}.main import create_app
from {{ cookiecutter.package_name }}.settings import Settings


@pytest.fixture(scope="session")
def exporter() -> InMemorySpanExporter:
    """Every span this process ends from here on (OpenTelemetry takes one tracer provider per
    process: what the service's own set-up would be, with an exporter the test can read)."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    trace.set_tracer_provider(provider)
    return exporter


@pytest.fixture
async def client(
    exporter: InMemorySpanExporter, make_settings: MakeSettings, migrate: Callable[..., Any]
) -> AsyncIterator[AsyncClient]:
    """A client of the app, as it is served, on a database of its own."""
    settings = {{ aw }}make_settings()
    migrator = create_db_engine(settings)
    {{ aw }}migrate(migrator)
    {{ aw }}migrator.dispose()
    async with (
        open_database(settings) as database,
        client_for(create_app(settings, database=database)) as client,
    ):
        yield client


class Caller:
    """The trace of a caller that sends its context (W3C `traceparent`) with its requests."""

    def __init__(self) -> None:
        self.trace_id = secrets.token_hex(16)
        self.span_id = secrets.token_hex(8)
        self.headers = {"traceparent": f"00-{self.trace_id}-{self.span_id}-01"}

    def spans(self, exporter: InMemorySpanExporter) -> list[ReadableSpan]:
        return [
            span
            for span in exporter.get_finished_spans()
            if span.context and trace.format_trace_id(span.context.trace_id) == self.trace_id
        ]


def span_id(context: SpanContext | None) -> str | None:
    return None if context is None else trace.format_span_id(context.span_id)


def children(spans: list[ReadableSpan], parent: ReadableSpan) -> list[ReadableSpan]:
    return [span for span in spans if span_id(span.parent) == span_id(parent.context)]


def server_span(spans: list[ReadableSpan]) -> ReadableSpan:
    [server] = [span for span in spans if span.kind == SpanKind.SERVER]
    return server


def transaction_span(spans: list[ReadableSpan], server: ReadableSpan) -> ReadableSpan:
    [transaction] = [span for span in children(spans, server) if span.name == "transaction"]
    return transaction


def statements(spans: list[ReadableSpan]) -> list[str]:
    return [str(sql) for span in spans if (sql := (span.attributes or {}).get("db.statement"))]


async def test_a_write_s_span_holds_its_transaction_which_holds_its_statements(
    exporter: InMemorySpanExporter, client: AsyncClient
) -> None:
    caller = Caller()
    data = {"title": "Private title", "sku": "PRIVATE-SKU"}
    response = await client.post("/items", json=data, headers=caller.headers)

    assert response.status_code == 201
    spans = caller.spans(exporter)
    server = server_span(spans)
    assert span_id(server.parent) == caller.span_id
    assert server.attributes is not None
    assert server.attributes["http.route"] == "/items"
    assert server.attributes["http.response.status_code"] == 201
    transaction = transaction_span(spans, server)
    assert transaction.attributes == {"transaction.outcome": "commit"}
    assert transaction.status.status_code == StatusCode.UNSET
    inserts = [s for s in statements(children(spans, transaction)) if s.startswith("INSERT")]
    assert len(inserts) == 1
    assert "INSERT INTO items" in inserts[0]
    # The statements' parameters are not in the trace: the data stays in the database.
    recorded = json.dumps([dict(span.attributes or {}) for span in spans])
    assert "Private title" not in recorded
    assert "PRIVATE-SKU" not in recorded


async def test_a_read_s_statements_are_children_of_its_span_with_its_route_template(
    exporter: InMemorySpanExporter, client: AsyncClient
) -> None:
    item_id = (await client.post("/items", json={"title": "Read"})).json()["id"]
    caller = Caller()
    response = await client.get(f"/items/{item_id}", headers=caller.headers)

    assert response.status_code == 200
    spans = caller.spans(exporter)
    server = server_span(spans)
    assert server.attributes is not None
    assert server.attributes["http.route"] == "/items/{item_id}"  # never the id itself
    assert [span.name for span in spans if span.name == "transaction"] == []
    [select] = statements(children(spans, server))
    assert select.startswith("SELECT")


async def test_a_failed_write_s_transaction_is_rolled_back_and_only_a_server_error_is_an_error(
    exporter: InMemorySpanExporter, client: AsyncClient
) -> None:
    await client.post("/items", json={"title": "First", "sku": "TRACE-1"})
    caller = Caller()
    second = {"title": "Second", "sku": "TRACE-1"}
    taken = await client.post("/items", json=second, headers=caller.headers)

    assert taken.status_code == 409
    spans = caller.spans(exporter)
    server = server_span(spans)
    transaction = transaction_span(spans, server)
    assert transaction.attributes == {"transaction.outcome": "rollback"}
    assert transaction.status.status_code == StatusCode.ERROR  # a conflict the database found
    assert server.status.status_code == StatusCode.UNSET  # a 4xx is the client's

    missing = Caller()
    await client.patch("/items/987654", json={"title": "None such"}, headers=missing.headers)
    [transaction] = [span for span in missing.spans(exporter) if span.name == "transaction"]
    assert transaction.attributes == {"transaction.outcome": "rollback"}
    assert transaction.status.status_code == StatusCode.UNSET  # a 404: the client's error


async def test_every_line_a_request_writes_carries_its_trace_id(
    exporter: InMemorySpanExporter, client: AsyncClient, log: Callable[[], list[dict[str, Any]]]
) -> None:
    caller = Caller()
    response = await client.post("/items", json={"title": "Logged"}, headers=caller.headers)
    untraced = await client.get("/items")

    request_id = response.headers["x-request-id"]
    mine = [line for line in log() if line.get("request_id") == request_id]
    assert len(mine) >= 3  # the statements and the access line at least
    assert {line.get("trace_id") for line in mine} == {caller.trace_id}
    # A request without a caller's trace has one of its own.
    theirs = [line for line in log() if line.get("request_id") == untraced.headers["x-request-id"]]
    assert len({line["trace_id"] for line in theirs}) == 1
    assert theirs[0]["trace_id"] != caller.trace_id


@pytest.fixture
def collector() -> Iterator[tuple[str, list[str]]]:
    """An endpoint on loopback that takes whatever is posted to it, as a collector would, and
    the paths posted to so far."""
    posted: list[str] = []

    class Collector(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers["Content-Length"]))
            posted.append(self.path)
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Collector)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}", posted
    server.shutdown()
    server.server_close()


@pytest.mark.parametrize("endpoint_set", [False, True])
def test_spans_are_sent_only_where_an_endpoint_is_set(
    settings: Settings, collector: tuple[str, list[str]], endpoint_set: bool
) -> None:
    """Started without OTEL_EXPORTER_OTLP_ENDPOINT, the service keeps OpenTelemetry's no-op
    tracer: no span is made, nothing is sent. With it, the spans of its start (the readiness
    check's statement) are sent there as it stops."""
    endpoint, posted = collector
    environment = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    environment["DATABASE_URL"] = settings.database_url
    if endpoint_set:
        environment["OTEL_EXPORTER_OTLP_ENDPOINT"] = endpoint
    program = (
        "from fastapi.testclient import TestClient\n"
        "from opentelemetry import trace\n"
        "from {{ cookiecutter.package_name }}.main import app\n"
        "with TestClient(app):\n"  # started and stopped, as a server does
        "    print(type(trace.get_tracer_provider()).__name__)\n"
    )
    started = subprocess.run(
        [sys.executable, "-c", program], env=environment, capture_output=True, text=True
    )

    assert started.returncode == 0, started.stderr
    if endpoint_set:
        assert started.stdout == "TracerProvider\n"
        assert posted == ["/v1/traces"]
    else:
        assert started.stdout == "ProxyTracerProvider\n"  # the no-op one, until one is set
        assert posted == []
