"""The log: every logger's lines (the service's, uvicorn's, SQLAlchemy's) through one handler,
as text for a terminal or one JSON object per line for a log collector (LOG_FORMAT), each line
written during a request with that request's id{{ " and its trace's" if cookiecutter.tracing == "opentelemetry" }}."""

import logging
import sys
from contextvars import ContextVar
from typing import TextIO

import structlog
from fastapi.exceptions import RequestValidationError
{%- if cookiecutter.tracing == "opentelemetry" %}
from opentelemetry import trace
{%- endif %}
from starlette.exceptions import HTTPException
from structlog.typing import EventDict, Processor

from .settings import Settings

logger = logging.getLogger(__name__)

_HANDLER = "service"
# The id of the request being served (set by middleware.RequestLog), in every line logged
# while it runs, whichever thread the line is logged in: worker threads get a copy.
REQUEST_ID: ContextVar[str | None] = ContextVar("request_id", default=None)
# The fields of the access lines (see middleware.py), added to them as JSON members.
ACCESS_FIELDS = ("method", "path", "status", "duration_ms")


def configure_logging(settings: Settings, stream: TextIO | None = None) -> None:
    """Send every record to `stream` (standard error) at LOG_LEVEL and above; uvicorn's
    access lines give way to the service's own, which carry the request's id."""
    stream = stream or sys.stderr
    renderer: list[Processor] = (
        [structlog.processors.format_exc_info, structlog.processors.JSONRenderer()]
        if settings.log_format == "json"
        else [structlog.dev.ConsoleRenderer(colors=stream.isatty())]
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[
            _add_request_id,
{%- if cookiecutter.tracing == "opentelemetry" %}
            _add_trace_id,
{%- endif %}
            structlog.stdlib.add_log_level,
            structlog.stdlib.add_logger_name,
            structlog.stdlib.ExtraAdder(ACCESS_FIELDS),
            structlog.processors.TimeStamper(fmt="iso", utc=True),
        ],
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, *renderer],
    )
    handler = logging.StreamHandler(stream)
    handler.set_name(_HANDLER)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    # Handlers that others installed (a test runner's, say) stay; an earlier one of ours goes.
    root.handlers = [*(h for h in root.handlers if h.get_name() != _HANDLER), handler]
    root.setLevel(settings.log_level)
    for name in ("uvicorn", "uvicorn.error"):  # uvicorn's own handlers give way to this one
        uvicorn = logging.getLogger(name)
        uvicorn.handlers.clear()
        uvicorn.setLevel(logging.NOTSET)
        uvicorn.propagate = True
    logging.getLogger("uvicorn.access").disabled = True
    sql = logging.INFO if settings.log_sql else logging.WARNING
    logging.getLogger("sqlalchemy.engine").setLevel(sql)
{%- if cookiecutter.database == "sqlite" and cookiecutter | session_style == "async" %}
    # aiosqlite's DEBUG lines say that its thread ran a statement: LOG_SQL's lines say which.
    logging.getLogger("aiosqlite").setLevel(logging.INFO)
{%- endif %}


def _add_request_id(_logger: object, _method: str, event: EventDict) -> EventDict:
    if (request_id := REQUEST_ID.get()) is not None:
        event["request_id"] = request_id
    return event


{%- if cookiecutter.tracing == "opentelemetry" %}


def _add_trace_id(_logger: object, _method: str, event: EventDict) -> EventDict:
    if (span := trace.get_current_span().get_span_context()).is_valid:
        event["trace_id"] = trace.format_trace_id(span.trace_id)
    return event
{%- endif %}


def client_error(error: BaseException) -> bool:
    """Whether `error` is a client's (a 404, a 422), which its response says all about."""
    return isinstance(error, RequestValidationError) or (
        isinstance(error, HTTPException) and error.status_code < 500
    )


def rolled_back(error: BaseException) -> None:
    """Say that a request's writes are rolled back, and why: at DEBUG for a client's error that
    its access line shows already, at INFO for any other."""
    level = logging.DEBUG if client_error(error) else logging.INFO
    logger.log(level, "The request failed (%s): its writes are rolled back", type(error).__name__)
