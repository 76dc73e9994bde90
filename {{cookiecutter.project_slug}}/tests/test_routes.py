"""What every route of the app must be, checked on the app itself: a route that writes reads
through its write session, never through a read session as well."""

from collections.abc import Iterator

from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute

from {{ cookiecutter.package_name }}.database import (
    ReadSessionDep,
    SessionDep,
    get_read_session,
    get_session,
)
from {{ cookiecutter.package_name }}.main import create_app
from {{ cookiecutter.package_name }}.settings import Settings


def _calls(dependant: Dependant) -> Iterator[object]:
    for dependency in dependant.dependencies:
        yield dependency.call
        yield from _calls(dependency)


def routes_with_both_sessions(app: FastAPI) -> list[str]:
    """Each route that depends, however deep, on a write session and a read session both. In
    production the read session may be a replica's (READ_DATABASE_URL), which has not got the
    route's own write yet; in the tests both share one connection and see it, so a test of such
    a route would pass, and production would read stale data."""
    return [
        f"{', '.join(sorted(route.methods or ()))} {route.path} ({route.name})"
        for route in app.routes
        if isinstance(route, APIRoute)
        and {get_session, get_read_session} <= set(_calls(route.dependant))
    ]


def test_no_route_takes_a_write_session_and_a_read_session(settings: Settings) -> None:
    assert routes_with_both_sessions(create_app(settings)) == [], (
        "These routes depend on SessionDep and ReadSessionDep both: read through SessionDep, "
        "which sees the route's own writes (docs/scaling.md, 'Read replicas')"
    )


def test_the_check_names_a_route_that_takes_both(settings: Settings) -> None:
    app = create_app(settings)

    @app.post("/items/{item_id}/copy")
    def copy_item(item_id: int, session: SessionDep, read: ReadSessionDep) -> None: ...

    assert routes_with_both_sessions(app) == ["POST /items/{item_id}/copy (copy_item)"]
