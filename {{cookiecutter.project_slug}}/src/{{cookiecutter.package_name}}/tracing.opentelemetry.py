"""Traces (OpenTelemetry): a span for each request, from FastAPI; under it, one for its
transaction and one for each SQL statement. Sent by OTLP over HTTP where OTEL_EXPORTER_OTLP_ENDPOINT
is set; otherwise no span is made, and nothing is sent."""

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi.telemetry import TelemetryConfig
from opentelemetry import trace
from opentelemetry.instrumentation.sqlalchemy import SQLAlchemyInstrumentor
from opentelemetry.trace import Status, StatusCode
from sqlalchemy import Engine

from .logs import client_error

tracer = trace.get_tracer(__name__)

# FastAPI's own telemetry: its server spans, and, as the service starts, an exporter made from
# the standard OTEL_* variables where they name an endpoint (flushed as the service stops).
TELEMETRY: TelemetryConfig = {
    "auto_configure": True,
    "metrics": False,  # GET /metrics has them (METRICS_ENABLED)
    "logs": False,  # the service's log is on standard error
    # Its spans of a request's dependencies, route and serialization would end the
    # transaction's span too early: it starts in a dependency and ends after the route.
    "operation_spans": False,
}


def configure_tracing() -> None:
    """Name the service in its traces after the project, unless OTEL_SERVICE_NAME (or
    OTEL_RESOURCE_ATTRIBUTES) names it."""
    if "service.name=" not in os.environ.get("OTEL_RESOURCE_ATTRIBUTES", ""):
        os.environ.setdefault("OTEL_SERVICE_NAME", "{{ cookiecutter.project_slug }}")


def recording() -> bool:
    """Whether spans go anywhere: a tracer provider is set, as FastAPI sets one when the
    service starts with an endpoint to send them to."""
    provider = trace.get_tracer_provider()
    return not isinstance(provider, trace.ProxyTracerProvider | trace.NoOpTracerProvider)


def trace_statements(*engines: Engine) -> None:
    """A span for each statement `engines` run, and for each connection they hand out; nothing
    at all, not even a no-op, where no span is recorded."""
    if recording():
        # skip_dep_check: the instrumentation declares SQLAlchemy < 2.1, which it has not
        # caught up with; it works with 2.1 as it is (the project's tests check its spans).
        SQLAlchemyInstrumentor().instrument(engines=list(engines), skip_dep_check=True)


def stop_tracing_statements() -> None:
    """Undo `trace_statements`, so that the next engines can be traced (as in tests, which
    open the database more than once in a process)."""
    if SQLAlchemyInstrumentor().is_instrumented_by_opentelemetry:
        SQLAlchemyInstrumentor().uninstrument()


@asynccontextmanager
async def transaction() -> AsyncIterator[None]:
    """A span for a request's unit of work: waiting for its turn to write, its statements, and
    its commit or its rollback (`transaction.outcome`). A client's error (a 404, a 422) rolls
    back without marking the span as an error; anything else marks it."""
    if not recording():
        yield
        return
    with tracer.start_as_current_span(
        "transaction", record_exception=False, set_status_on_exception=False
    ) as span:
        try:
            yield
        except BaseException as error:
            span.set_attribute("transaction.outcome", "rollback")
            if not client_error(error):
                span.record_exception(error)
                span.set_status(Status(StatusCode.ERROR, type(error).__name__))
            raise
        span.set_attribute("transaction.outcome", "commit")
