"""Traces, as a collector receives them from a project served as its README says."""

from __future__ import annotations

import gzip
import json
import secrets
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.request import Request, urlopen

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span as SpanMessage
from opentelemetry.proto.trace.v1.trace_pb2 import Status

from .baking import Project
from .test_variants import migrated_database

pytestmark = pytest.mark.slow


@dataclass
class Span:
    service: str
    trace_id: str
    span_id: str
    parent_span_id: str
    name: str
    kind: str  # SPAN_KIND_SERVER, SPAN_KIND_CLIENT, SPAN_KIND_INTERNAL
    attributes: dict[str, Any]
    status: str  # STATUS_CODE_UNSET, STATUS_CODE_OK, STATUS_CODE_ERROR


def value(any_value: AnyValue) -> Any:
    return getattr(any_value, any_value.WhichOneof("value") or "string_value")


def decode(request: ExportTraceServiceRequest) -> list[Span]:
    spans = []
    for resource_spans in request.resource_spans:
        resource = {a.key: value(a.value) for a in resource_spans.resource.attributes}
        for scope_spans in resource_spans.scope_spans:
            for span in scope_spans.spans:
                spans.append(
                    Span(
                        service=resource.get("service.name", ""),
                        trace_id=span.trace_id.hex(),
                        span_id=span.span_id.hex(),
                        parent_span_id=span.parent_span_id.hex(),
                        name=span.name,
                        kind=SpanMessage.SpanKind.Name(span.kind),
                        attributes={a.key: value(a.value) for a in span.attributes},
                        status=Status.StatusCode.Name(span.status.code),
                    )
                )
    return spans


@contextmanager
def otlp_receiver() -> Iterator[tuple[str, list[Span]]]:
    """An OTLP/HTTP endpoint on loopback that takes traces, as a collector does, and the spans
    it has received so far, decoded with OpenTelemetry's own protocol package."""
    received: list[Span] = []

    class Receiver(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            if self.headers.get("Content-Encoding") == "gzip":
                body = gzip.decompress(body)
            if self.path != "/v1/traces":
                self.send_error(404)
                return
            received.extend(decode(ExportTraceServiceRequest.FromString(body)))
            answer = ExportTraceServiceResponse().SerializeToString()
            self.send_response(200)
            self.send_header("Content-Type", "application/x-protobuf")
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", received
    finally:
        server.shutdown()
        server.server_close()


def statements(spans: list[Span], under: Span) -> list[str]:
    """The SQL of the statements' spans among `spans` whose parent is `under`."""
    return [
        span.attributes["db.statement"]
        for span in spans
        if span.parent_span_id == under.span_id and "db.statement" in span.attributes
    ]


def traced_request(base: str, method: str, path: str, data: Any = None) -> tuple[str, str, Any]:
    """Send a request in a caller's trace (W3C `traceparent`); its trace id, the caller's span
    id, and the answer."""
    trace_id, span_id = secrets.token_hex(16), secrets.token_hex(8)
    headers = {"traceparent": f"00-{trace_id}-{span_id}-01", "Content-Type": "application/json"}
    body = None if data is None else json.dumps(data).encode()
    with urlopen(Request(f"{base}{path}", body, headers, method=method), timeout=10) as response:
        return trace_id, span_id, json.load(response)


def test_a_served_project_sends_each_request_s_spans_to_the_otlp_endpoint(
    traced_project: Project, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """Served with OTEL_EXPORTER_OTLP_ENDPOINT set, and nothing else of OpenTelemetry's: a
    server span per request, with its route's template and its status, whose children are the
    write's transaction, whose children are its statements; the trace's id in the request's
    log lines. The server is stopped as soon as it has answered: the spans still in its batch
    are sent as it exits (the batch's schedule is 5 s)."""
    project = traced_project
    log = tmp_path / "server.log"
    with otlp_receiver() as (endpoint, spans):
        env = migrated_database(project, tmp_path, request) | {
            "OTEL_EXPORTER_OTLP_ENDPOINT": endpoint,
            "LOG_FORMAT": "json",
        }
        with project.serving(env, log) as base:
            write_trace, caller, item = traced_request(base, "POST", "/items", {"title": "T"})
            read_trace, _, _ = traced_request(base, "GET", f"/items/{item['id']}")
            stopping = time.monotonic()
        exited = time.monotonic() - stopping

    assert exited < 5, "the server took its time to exit"
    write = [span for span in spans if span.trace_id == write_trace]
    [server] = [span for span in write if span.kind == "SPAN_KIND_SERVER"]
    assert server.parent_span_id == caller
    assert server.service == project.context["project_slug"]
    assert server.attributes["http.route"] == "/items"
    assert server.attributes["http.response.status_code"] == 201
    assert server.status == "STATUS_CODE_UNSET"
    [transaction] = [s for s in write if s.name == "transaction"]
    assert transaction.parent_span_id == server.span_id
    assert transaction.attributes == {"transaction.outcome": "commit"}
    sql = statements(write, under=transaction)
    assert [s for s in sql if s.startswith("INSERT INTO items")], sql

    read = [span for span in spans if span.trace_id == read_trace]
    [server] = [span for span in read if span.kind == "SPAN_KIND_SERVER"]
    assert server.attributes["http.route"] == "/items/{item_id}"
    assert server.attributes["http.response.status_code"] == 200
    sql = statements(read, under=server)
    assert [s for s in sql if s.startswith("SELECT")], sql

    lines = [json.loads(line) for line in log.read_text().splitlines()]
    access = [line for line in lines if line["logger"].endswith(".access")]
    assert {write_trace, read_trace} <= {line.get("trace_id") for line in access}
