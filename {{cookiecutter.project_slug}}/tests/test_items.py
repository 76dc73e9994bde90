"""The items API, as a client sees it."""

from datetime import datetime
from typing import Any

import pytest
from httpx2 import AsyncClient
from item_requests import create


async def test_create_returns_the_stored_item(client: AsyncClient) -> None:
    response = await client.post("/items", json={"title": "Tea", "description": "Green"})

    assert response.status_code == 201
    item = response.json()
    assert item["title"] == "Tea"
    assert item["description"] == "Green"
    assert isinstance(item["id"], int)
    created_at = datetime.fromisoformat(item["created_at"])
    assert created_at.utcoffset() is not None
    assert item["sku"] is None
    assert item["updated_at"] == item["created_at"]
    assert (await client.get(f"/items/{item['id']}")).json() == item


async def test_description_is_optional(client: AsyncClient) -> None:
    assert (await create(client))["description"] is None


async def test_a_sku_is_stored_upper_case(client: AsyncClient) -> None:
    assert (await create(client, sku="ab-1.x_2"))["sku"] == "AB-1.X_2"


async def test_creating_a_taken_sku_is_409_and_stores_nothing(client: AsyncClient) -> None:
    await create(client, title="First", sku="AB-1")

    response = await client.post("/items", json={"title": "Second", "sku": "ab-1"})

    assert response.status_code == 409
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["detail"] == "Another item already has this sku"
    assert response.json()["errors"] == [
        {"loc": ["body", "sku"], "msg": "already taken", "type": "unique"}
    ]
    assert [item["title"] for item in (await client.get("/items")).json()["items"]] == ["First"]


@pytest.mark.parametrize("method", ["put", "patch"])
async def test_taking_another_items_sku_is_409_and_changes_nothing(
    client: AsyncClient, method: str
) -> None:
    await create(client, title="First", sku="AB-1")
    second = await create(client, title="Second", sku="AB-2")

    response = await client.request(
        method, f"/items/{second['id']}", json={"title": "Renamed", "sku": "AB-1"}
    )

    assert response.status_code == 409
    assert (await client.get(f"/items/{second['id']}")).json() == second


async def test_read_a_missing_item_is_404(client: AsyncClient) -> None:
    response = await client.get("/items/12345")

    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json() == {
        "title": "Not Found",
        "status": 404,
        "detail": "Item 12345 not found",
        "request_id": response.headers["x-request-id"],
    }


async def test_replace_sets_every_field(client: AsyncClient) -> None:
    item = await create(client, title="Old", description="Old description")

    response = await client.put(f"/items/{item['id']}", json={"title": "New"})

    assert response.status_code == 200
    replaced = response.json()
    assert (replaced["title"], replaced["description"]) == ("New", None)
    assert replaced["created_at"] == item["created_at"]
    assert replaced["updated_at"] >= item["updated_at"]
    assert (await client.get(f"/items/{item['id']}")).json() == replaced


async def test_update_changes_only_the_fields_given(client: AsyncClient) -> None:
    item = await create(client, title="Old", description="Kept")

    response = await client.patch(f"/items/{item['id']}", json={"title": "New"})

    assert response.status_code == 200
    assert (response.json()["title"], response.json()["description"]) == ("New", "Kept")
    cleared = (await client.patch(f"/items/{item['id']}", json={"description": None})).json()
    assert (cleared["title"], cleared["description"]) == ("New", None)


async def test_update_with_no_fields_keeps_the_item(client: AsyncClient) -> None:
    item = await create(client, title="Same")

    response = await client.patch(f"/items/{item['id']}", json={})

    assert response.status_code == 200
    assert response.json()["title"] == "Same"


@pytest.mark.parametrize("method", ["put", "patch", "delete"])
async def test_changing_a_missing_item_is_404(client: AsyncClient, method: str) -> None:
    kwargs: dict[str, Any] = {} if method == "delete" else {"json": {"title": "x"}}

    response = await client.request(method, "/items/999", **kwargs)

    assert response.status_code == 404
    assert response.json()["detail"] == "Item 999 not found"


async def test_a_method_the_path_does_not_allow_is_405(client: AsyncClient) -> None:
    response = await client.delete("/items")

    assert response.status_code == 405
    assert response.headers["allow"] == "GET, POST"  # every method of the path, not one route's
    assert response.json() == {
        "title": "Method Not Allowed",
        "status": 405,
        "detail": "Method Not Allowed",
        "request_id": response.headers["x-request-id"],
    }


async def test_delete_answers_204_with_no_body(client: AsyncClient) -> None:
    item = await create(client)

    response = await client.delete(f"/items/{item['id']}")

    assert response.status_code == 204
    assert response.content == b""
    assert (await client.get(f"/items/{item['id']}")).status_code == 404
    assert (await client.delete(f"/items/{item['id']}")).status_code == 404


async def test_the_id_of_a_deleted_item_is_never_used_again(client: AsyncClient) -> None:
    # Else a URL, or an ETag in If-Match, kept for the deleted item would name the new one.
    first = await create(client)
    await client.delete(f"/items/{first['id']}")

    assert (await create(client))["id"] > first["id"]


async def test_tests_are_isolated_from_each_other(client: AsyncClient) -> None:
    # Every other test's items were rolled back: this test starts from an empty table.
    assert (await client.get("/items")).json()["items"] == []


async def test_every_operation_is_named_after_its_route(client: AsyncClient) -> None:
    paths = (await client.get("/openapi.json")).json()["paths"]
    ours = [methods for path, methods in paths.items() if path.startswith(("/items", "/health"))]
    ids = sorted(operation["operationId"] for methods in ours for operation in methods.values())

    # A client generated from the schema names its functions so: create_item, not
    # create_item_items_post.
    assert ids == [
        "create_item",
        "delete_item",
        "list_items",
        "liveness",
        "read_item",
        "readiness",
        "replace_item",
        "update_item",
    ]


async def test_openapi_documents_the_error_body(client: AsyncClient) -> None:
    schema = (await client.get("/openapi.json")).json()

    paths = schema["paths"]
    assert set(paths["/items/{item_id}"]["get"]["responses"]) == {
        "200",
        "304",
        "400",
{%- if cookiecutter.auth == "oidc" %}
        "401",
        "403",
{%- endif %}
        "404",
        "422",
        "503",
    }
    assert set(paths["/items/{item_id}"]["patch"]["responses"]) == {
        "200",
        "400",
{%- if cookiecutter.auth == "oidc" %}
        "401",
        "403",
{%- endif %}
        "404",
        "409",
        "412",
        "413",
        "422",
        "428",
        "503",
    }
    for path in paths.values():
        for operation in path.values():
            for status, response in operation["responses"].items():
                media = "application/problem+json" if int(status) >= 400 else "application/json"
                assert list(response.get("content", {media: 0})) == [media], (status, response)
    error = paths["/items/{item_id}"]["get"]["responses"]["404"]["content"]
    assert error["application/problem+json"]["schema"] == {"$ref": "#/components/schemas/Problem"}
