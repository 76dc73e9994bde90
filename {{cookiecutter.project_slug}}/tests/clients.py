{%- set oidc = cookiecutter.auth == "oidc" -%}
"""Clients of the application in the tests: `client_for` in the test's own event loop, through
ASGI; `threaded_client` from a thread of its own, as Starlette's TestClient runs it.
{%- if oidc %} Both send
alice's access token, which grants every scope, from the provider the tests run (issuer.py).
{%- endif %}"""

from typing import Any

from fastapi.testclient import TestClient
from httpx2 import ASGITransport, AsyncClient
{%- if oidc %}
from issuer import provider
{%- endif %}
from starlette.types import ASGIApp


def client_for(
    app: ASGIApp,
    *,
    raise_app_exceptions: bool = False,
    base_url: str = "http://test",
    **transport: Any,
) -> AsyncClient:
    """An error that no handler answers is a 500, as a server sends it, unless
    `raise_app_exceptions`."""
    return AsyncClient(
        transport=ASGITransport(app=app, raise_app_exceptions=raise_app_exceptions, **transport),
        base_url=base_url,
{%- if oidc %}
        headers=authorization(),
{%- endif %}
    )


def threaded_client(app: ASGIApp, **options: Any) -> TestClient:
    return TestClient(app, {{ "headers=authorization(), " if oidc }}**options)
{%- if oidc %}


def authorization(subject: str = "alice", scope: str | None = None) -> dict[str, str]:
    """The Authorization header of an access token for `subject`, granting `scope` (default:
    reading and writing items)."""
    token = provider().token(subject, scope) if scope is not None else provider().token(subject)
    return {"Authorization": f"Bearer {token}"}
{%- endif %}
