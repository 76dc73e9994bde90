"""One error body for every error the API returns (RFC 9457 problem details), database errors
mapped by their cause: a taken unique value or a concurrent transaction's conflict is a 409, a
row written since the request read it a 412 (or a 409), an unreachable database or a wait past
its timeout a 503, any other a 500 (docs/errors.md has the table)."""

import logging
import re
from http import HTTPMethod, HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from sqlalchemy.orm.exc import StaleDataError
from starlette.exceptions import HTTPException
from starlette.routing import Match

from . import dialect, logs
from .models import Base

logger = logging.getLogger(__name__)
# Seconds a client is told to wait before it tries again when the database is unavailable.
RETRY_AFTER = "5"


class FieldError(BaseModel):
    loc: list[str | int]
    msg: str
    type: str


class Problem(BaseModel):
    """What went wrong: `title` names the kind of error, `detail` says what happened."""

    title: str
    status: int
    detail: str
    errors: list[FieldError] | None = None
    request_id: str | None = Field(
        default=None,
        description="The request's id, as in its X-Request-ID header and the service's log",
    )


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI documentation for the error statuses a route can answer with."""
    return {
        status: {"model": Problem, "description": HTTPStatus(status).phrase} for status in statuses
    }


class ProblemResponse(JSONResponse):
    media_type = "application/problem+json"


def problem(status: int, detail: str, errors: list[FieldError] | None = None) -> JSONResponse:
    body = Problem(
        title=HTTPStatus(status).phrase,
        status=status,
        detail=detail,
        errors=errors,
        request_id=logs.REQUEST_ID.get(),
    )
    return ProblemResponse(body.model_dump(exclude_none=True), status_code=status)


def document_problems(app: FastAPI) -> None:
    """Make the OpenAPI schema say that error bodies are `application/problem+json`: FastAPI
    documents the models of `error_responses` as the route's own media type."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        schema = build()
        for operation in (op for path in schema["paths"].values() for op in path.values()):
            for status, response in operation["responses"].items():
                content = response.get("content", {})
                if int(status) >= 400 and "application/json" in content:
                    content[ProblemResponse.media_type] = content.pop("application/json")
        return schema

    app.openapi = openapi  # type: ignore[method-assign]


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, HTTPException)
    response = problem(exc.status_code, str(exc.detail))
    if exc.headers:
        response.headers.update(exc.headers)
    if exc.status_code == 405:  # Starlette's Allow names one route's methods, of all the path's
        response.headers["Allow"] = ", ".join(_allowed_methods(request))
    return response


def _allowed_methods(request: Request) -> list[str]:
    """Every method that some route of the app answers on the request's path."""
    return [
        method
        for method in HTTPMethod
        if any(
            route.matches({**request.scope, "method": method})[0] is Match.FULL
            for route in request.app.router.routes
        )
    ]


async def _validation_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = [
        FieldError(loc=list(error["loc"]), msg=error["msg"], type=error["type"])
        for error in exc.errors()
    ]
    fields = ", ".join(".".join(str(part) for part in error.loc) for error in errors)
    return problem(422, f"Invalid request: {fields}", errors)


async def _integrity_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, IntegrityError)
    violation = dialect.unique_violation(exc, Base.metadata)
    if violation is None:  # NOT NULL, CHECK, a foreign key: a bug, and a 500 (as below)
        raise exc
    table, fields = violation
{%- if cookiecutter.auth == "oidc" %}
    fields = [field for field in fields if field != "owner"]  # the caller, not a field it sent
{%- endif %}
    # Named, not quoted: the error's text holds the values sent (PostgreSQL's DETAIL line).
    logger.info("Unique value taken: %s (%s)", table, ", ".join(fields))
    errors = [FieldError(loc=["body", f], msg="already taken", type="unique") for f in fields]
    detail = f"Another {_row_name(table)} already has this {' and '.join(fields)}"
    return problem(409, detail, errors)


def _row_name(table_name: str) -> str:
    """What a row of the table is called: its model's name, in words ("order line")."""
    table = Base.metadata.tables.get(table_name)
    names = [model.class_.__name__ for model in Base.registry.mappers if model.local_table is table]
    return re.sub(r"(?<=.)(?=[A-Z])", " ", names[0]).lower() if names else "row"


async def _stale_data(request: Request, exc: Exception) -> JSONResponse:
    """A flush whose UPDATE or DELETE found its row at another version than the one it read (a
    model's `version_id_col`): another write came first, and this one changed nothing. A 412 if
    the request named the version it read (If-Match), else a 409, as for any conflict."""
    assert isinstance(exc, StaleDataError)
    detail = "It was changed by another request after this one read it"
    if "if-match" in request.headers:
        return problem(412, f"{detail}: read it again")
    response = problem(409, f"{detail}; try again")
    response.headers["Retry-After"] = "1"
    return response


async def _database_error({{ "request" if cookiecutter.database == "postgresql" else "_request" }}: Request, exc: Exception) -> JSONResponse:
    failure = dialect.transient_failure(exc) if isinstance(exc, DBAPIError) else None
    if failure:
        code, detail, conflict = failure
        logger.warning("The database could not do it now (%s): %s", code, detail)
        if not conflict:
            return unavailable(detail)
{%- if cookiecutter.database == "postgresql" %}
        request.state.transaction_conflict = code  # retries.RetryConflicts may run it again
{%- endif %}
        response = problem(409, f"{detail}; try again")
        response.headers["Retry-After"] = "1"
        return response
    outage = isinstance(exc, PoolTimeoutError) or (
        isinstance(exc, DBAPIError) and (exc.connection_invalidated or dialect.is_unavailable(exc))
    )
    if not outage:
        # Not the database's fault: what a handler raises goes on to middleware.RequestLog,
        # which logs it and answers 500.
        raise exc
    logger.error("Database unavailable: %s", _cause(exc))
    return unavailable("The database is not available")


def _cause(exc: Exception) -> str:
    """What a database error says, without the statement, its parameters, or a DETAIL line that
    may quote values: the driver's exception and the first line of its message."""
    original = getattr(exc, "orig", None) or exc
    first_line = str(original).partition("\n")[0]
    return f"{type(original).__name__}: {first_line}"


def unavailable(detail: str) -> JSONResponse:
    """A 503, which tells the client when to try again."""
    response = problem(503, f"{detail}; try again shortly")
    response.headers["Retry-After"] = RETRY_AFTER
    return response


def install_error_handlers(app: FastAPI) -> None:
    document_problems(app)
    app.add_exception_handler(HTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(IntegrityError, _integrity_error)
    app.add_exception_handler(StaleDataError, _stale_data)
    app.add_exception_handler(PoolTimeoutError, _database_error)
    app.add_exception_handler(DBAPIError, _database_error)
