"""What the tests of the items API share: an item made over HTTP."""

from typing import Any

from httpx2 import AsyncClient


async def create(client: AsyncClient, **fields: Any) -> dict[str, Any]:
    response = await client.post("/items", json={"title": "An item", **fields})
    assert response.status_code == 201, response.text
    item: dict[str, Any] = response.json()
    return item
