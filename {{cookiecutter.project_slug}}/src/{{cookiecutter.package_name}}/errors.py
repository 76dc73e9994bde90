"""One error body for every error the API returns: RFC 9457 problem details, as JSON.

Database errors are mapped here too, so that no route needs to catch them: a conflict with
existing data is a 409, a database that cannot be reached is a 503. Neither leaks SQL or
connection details into the response; the full error goes to the log.
"""

import logging
from http import HTTPMethod, HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy.exc import DBAPIError, IntegrityError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from starlette.exceptions import HTTPException
from starlette.routing import Match

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


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI documentation for the error statuses a route can answer with."""
    return {
        status: {"model": Problem, "description": HTTPStatus(status).phrase} for status in statuses
    }


def problem(status: int, detail: str, errors: list[FieldError] | None = None) -> JSONResponse:
    body = Problem(title=HTTPStatus(status).phrase, status=status, detail=detail, errors=errors)
    return JSONResponse(body.model_dump(exclude_none=True), status_code=status)


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
    logger.info("Integrity error: %s", exc)
    return problem(409, "The request conflicts with stored data: a unique value is already taken")


async def _database_error(_request: Request, exc: Exception) -> JSONResponse:
    # OSError: a driver may raise its socket's error, unwrapped, when it cannot connect.
    unavailable = isinstance(
        exc, PoolTimeoutError | OperationalError | InterfaceError | OSError
    ) or (isinstance(exc, DBAPIError) and exc.connection_invalidated)
    if not unavailable:
        # Not the database's fault: Starlette passes what a handler raises on to the handler
        # for `Exception`, which answers 500.
        raise exc
    logger.error("Database unavailable: %s", exc)
    response = problem(503, "The database is not available; try again shortly")
    response.headers["Retry-After"] = RETRY_AFTER
    return response


async def _unexpected_error(_request: Request, _exc: Exception) -> JSONResponse:
    # The server logs the traceback: Starlette raises the error again after this response.
    return problem(500, "An unexpected error occurred")


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(HTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(IntegrityError, _integrity_error)
    app.add_exception_handler(PoolTimeoutError, _database_error)
    app.add_exception_handler(DBAPIError, _database_error)
    app.add_exception_handler(OSError, _database_error)
    app.add_exception_handler(Exception, _unexpected_error)
