"""What the items API accepts and refuses: text is stored exactly as sent, and a body or an id
that breaks a rule of the schema is a 422 that names its field and changes nothing."""

from typing import Any

import pytest
from httpx2 import AsyncClient
from item_requests import create


@pytest.mark.parametrize(
    "fields",
    [
        {"title": "x" * 200, "description": "y" * 2000, "sku": "Z" * 64},
        {"title": "\U0001f375" * 200, "description": "\U0001f375" * 2000},  # beyond 16 bits
        {"title": " Tea\u00a0 ", "description": " Green\ttea,\r\nloose leaf \x7f\u0085"},
        {"title": "\u00df\u0130\u0131 \u0645\u0631\u062d\u0628\u0627 \u4f60\u597d"},
    ],
)
async def test_text_the_api_accepts_is_stored_exactly_as_sent(
    client: AsyncClient, fields: dict[str, str]
) -> None:
    item = await create(client, **fields)

    assert {name: item[name] for name in fields} == fields
    assert (await client.get(f"/items/{item['id']}")).json() == item


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "title"),
        ({"title": ""}, "title"),
        ({"title": "   "}, "title"),
        ({"title": "x" * 201}, "title"),
        ({"title": "x" * 200 + " "}, "title"),  # the limit holds for what was sent, untrimmed
        ({"title": "Two\nlines"}, "title"),
        ({"title": "Tab\t"}, "title"),
        ({"title": "Next\u0085line"}, "title"),  # a C1 control, a line break
        ({"title": "Line\u2028separator"}, "title"),
        ({"title": "\u00a0\u3000\u200b"}, "title"),  # spaces that show as nothing
        ({"title": "NUL\x00"}, "title"),  # PostgreSQL cannot store it: no database takes it
        ({"title": "ok", "description": "NUL\x00"}, "description"),
        ({"title": 5}, "title"),
        ({"title": "ok", "description": "x" * 2001}, "description"),
        ({"title": "ok", "colour": "red"}, "colour"),
        ({"title": "ok", "sku": ""}, "sku"),
        ({"title": "ok", "sku": "has space"}, "sku"),
        ({"title": "ok", "sku": " AB-1"}, "sku"),
        ({"title": "ok", "sku": "\u00df"}, "sku"),  # checked before upper-casing ("SS")
        ({"title": "ok", "sku": "-leading-dash"}, "sku"),
        ({"title": "ok", "sku": "X" * 65}, "sku"),
    ],
)
async def test_create_rejects_invalid_input(client: AsyncClient, body: Any, field: str) -> None:
    response = await client.post("/items", json=body)

    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["status"] == 422
    assert [error["loc"][-1] for error in problem["errors"]] == [field]
    assert (await client.get("/items")).json()["items"] == []


async def test_create_rejects_a_body_that_is_not_json(client: AsyncClient) -> None:
    response = await client.post(
        "/items", content=b"{", headers={"content-type": "application/json"}
    )
    assert response.status_code == 422


async def test_a_lone_surrogate_is_refused_naming_its_field(client: AsyncClient) -> None:
    """JSON text can escape half of a UTF-16 pair alone; it is no character, and no database
    can store it."""
    body = b'{"title": "ok", "description": "\\ud800"}'
    response = await client.post(
        "/items", content=body, headers={"content-type": "application/json"}
    )

    assert response.status_code == 422
    assert [error["loc"] for error in response.json()["errors"]] == [["body", "description"]]


@pytest.mark.parametrize("item_id", ["0", "-1", "abc", str(2**31), "1.5"])
async def test_item_ids_out_of_range_are_422(client: AsyncClient, item_id: str) -> None:
    assert (await client.get(f"/items/{item_id}")).status_code == 422


async def test_replace_needs_a_title(client: AsyncClient) -> None:
    item = await create(client)
    assert (await client.put(f"/items/{item['id']}", json={"description": "x"})).status_code == 422


@pytest.mark.parametrize(
    "body", [{"title": None}, {"title": ""}, {"id": 7}, {"created_at": "2020-01-01T00:00:00Z"}]
)
async def test_update_rejects_invalid_changes(client: AsyncClient, body: dict[str, Any]) -> None:
    item = await create(client, title="Same")

    assert (await client.patch(f"/items/{item['id']}", json=body)).status_code == 422
    assert (await client.get(f"/items/{item['id']}")).json() == item
