"""What every route of the app must be, checked on the app itself: a route that writes reads
through its write session, never through a read session as well."""

from collections.abc import Iterator

from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute

{% if cookiecutter.auth == "oidc" -%}
from {{ cookiecutter.package_name }}.auth import authenticated
{% endif -%}
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
{%- if cookiecutter.auth == "oidc" %}


# What anyone may call: the probes, the scrape, the docs' pages (the schema's is no APIRoute).
OPEN = {"/health/live", "/health/ready", "/metrics", "/docs", "/docs/oauth2-redirect", "/redoc"}


def unauthenticated_routes(app: FastAPI) -> list[str]:
    """Each route that does not depend, however deep, on auth.authenticated: a route added
    without `caller: auth.Reader` or `auth.Writer` answers anyone."""
    return [
        f"{', '.join(sorted(route.methods or ()))} {route.path} ({route.name})"
        for route in app.routes
        if isinstance(route, APIRoute)
        and route.path not in OPEN
        and authenticated not in set(_calls(route.dependant))
    ]


def test_every_route_but_the_open_ones_needs_a_caller(settings: Settings) -> None:
    app = create_app(settings.model_copy(update={"metrics_enabled": True}))

    assert unauthenticated_routes(app) == [], (
        "These routes answer anyone: give them `caller: auth.Reader` or `auth.Writer`"
    )

    @app.get("/items/{item_id}/open")
    def open_to_anyone(item_id: int) -> None: ...

    assert unauthenticated_routes(app) == ["GET /items/{item_id}/open (open_to_anyone)"]
{%- endif %}
