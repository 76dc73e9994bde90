"""What the tests of the items API share: an item made over HTTP, and clients that append to
one item's description at once, as careful clients would."""

import asyncio
from collections import Counter
from typing import Any

from httpx2 import AsyncClient


async def create(client: AsyncClient, **fields: Any) -> dict[str, Any]:
    response = await client.post("/items", json={"title": "An item", **fields})
    assert response.status_code == 201, response.text
    item: dict[str, Any] = response.json()
    return item


async def append_at_once(client: AsyncClient, url: str, words: list[str]) -> Counter[int]:
    """Each word's client reads the item, writes its description back with the word appended
    and If-Match, and on a 412 reads and tries again; on a 409 it first waits the Retry-After
    it was given. Returns how often each refusal came."""
    refused: Counter[int] = Counter()

    async def append(word: str) -> None:
        while True:
            read = await client.get(url)
            description = f"{read.json()['description']} {word}"
            headers = {"If-Match": read.headers["etag"]}
            written = await client.patch(url, json={"description": description}, headers=headers)
            if written.status_code not in (409, 412):
                assert written.status_code == 200, written.text
                return
            refused[written.status_code] += 1
            if written.status_code == 409:
                await asyncio.sleep(float(written.headers["retry-after"]))

    await asyncio.gather(*(append(word) for word in words))
    return refused
