"""CORS, as a browser meets it: a preflight before a write, then a cross-origin read of the
headers a page needs (an item's ETag, the next page's Link, the request's id)."""

import pytest
from clients import client_for
from fastapi import FastAPI
from httpx2 import AsyncClient
from pydantic import ValidationError

from {{ cookiecutter.package_name }}.main import create_app
from {{ cookiecutter.package_name }}.settings import Settings

PAGE = "https://app.example.com"


@pytest.fixture
def cors_client(settings: Settings, app: FastAPI) -> AsyncClient:
    allowed = settings.model_copy(update={"cors_origins": [PAGE, "http://localhost:5173"]})
    cors_app = create_app(allowed, database=app.state.database)
    return client_for(cors_app, base_url="http://testserver")


async def test_a_page_of_an_allowed_origin_may_write_and_read_the_etag_link_and_request_id(
    cors_client: AsyncClient,
) -> None:
    async with cors_client as client:
        preflight = await client.options(
            "/items/1",
            headers={
                "Origin": PAGE,
                "Access-Control-Request-Method": "PATCH",
                "Access-Control-Request-Headers": "authorization, content-type, if-match",
            },
        )
        for sku in ("CORS-1", "CORS-2"):
            item = {"title": "Shared", "sku": sku}
            await client.post("/items", json=item, headers={"Origin": PAGE})
        page = await client.get("/items", params={"limit": 1}, headers={"Origin": PAGE})

    assert preflight.status_code == 200
    assert preflight.headers["access-control-allow-origin"] == PAGE
    assert "PATCH" in preflight.headers["access-control-allow-methods"].split(", ")
    allowed = preflight.headers["access-control-allow-headers"].lower().split(", ")
    asked = {"authorization", "content-type", "x-request-id", "if-match", "if-none-match"}
    assert asked <= set(allowed)
    assert page.status_code == 200
    assert page.headers["access-control-allow-origin"] == PAGE
    assert page.headers["link"].startswith("<")
    exposed = page.headers["access-control-expose-headers"].lower().split(", ")
    assert {"etag", "link", "x-request-id"} <= set(exposed)


async def test_a_page_of_another_origin_gets_no_permission(cors_client: AsyncClient) -> None:
    other = "https://evil.example"
    async with cors_client as client:
        preflight = await client.options(
            "/items",
            headers={"Origin": other, "Access-Control-Request-Method": "POST"},
        )
        read = await client.get("/items", headers={"Origin": other})

    assert preflight.status_code == 400
    assert "access-control-allow-origin" not in preflight.headers
    # The server answers; the browser keeps the answer from the page.
    assert read.status_code == 200
    assert "access-control-allow-origin" not in read.headers


async def test_by_default_no_origin_is_allowed_and_no_cors_header_sent(client: AsyncClient) -> None:
    preflight = await client.options(
        "/items", headers={"Origin": PAGE, "Access-Control-Request-Method": "POST"}
    )
    read = await client.get("/items", headers={"Origin": PAGE})

    assert preflight.status_code == 405  # no CORS: OPTIONS is a method the API does not have
    assert not [name for name in read.headers if name.startswith("access-control-")]


def test_cors_origins_are_comma_separated_origins_or_a_json_list(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("CORS_ORIGINS", " https://app.example.com, http://localhost:5173 ,")
    assert Settings().cors_origins == [PAGE, "http://localhost:5173"]
    monkeypatch.setenv("CORS_ORIGINS", '["https://app.example.com", "http://localhost:5173"]')
    assert Settings().cors_origins == [PAGE, "http://localhost:5173"]
    monkeypatch.setenv("CORS_ORIGINS", "")  # as in .env.example
    assert Settings().cors_origins == []
    monkeypatch.setenv("CORS_ORIGINS", '["https://app.example.com", 5173]')
    with pytest.raises(ValidationError, match="string_type"):
        Settings()
    monkeypatch.setenv("CORS_ORIGINS", '["https://app.example.com"')  # not JSON
    with pytest.raises(ValidationError, match="not a JSON list"):
        Settings()

    # A path, even a lone slash, would never match a browser's Origin header.
    monkeypatch.setenv("CORS_ORIGINS", "https://app.example.com/")
    with pytest.raises(ValidationError, match="expected an origin like https://app"):
        Settings()
