"""Conditional requests: every item response carries its version as a strong ETag; a write with
If-Match changes the item only at a version it names (412 otherwise), a read with If-None-Match
answers 304 while the item is at one it names, and REQUIRE_IF_MATCH refuses a blind write."""

from typing import Any

import pytest
from clients import client_for
from fastapi import FastAPI
from httpx2 import AsyncClient, Response
from item_requests import append_at_once, create

from {{ cookiecutter.package_name }}.main import create_app
from {{ cookiecutter.package_name }}.settings import Settings

WRITES: dict[str, dict[str, Any]] = {
    "put": {"json": {"title": "Replaced"}},
    "patch": {"json": {"description": "Changed"}},
    "delete": {},
}


async def write(client: AsyncClient, method: str, item_id: int, if_match: str | None) -> Response:
    headers = {"If-Match": if_match} if if_match is not None else {}
    return await client.request(method, f"/items/{item_id}", headers=headers, **WRITES[method])


async def test_every_item_response_carries_its_version_as_a_strong_etag(
    client: AsyncClient,
) -> None:
    created = await client.post("/items", json={"title": "Tea"})
    item_id = created.json()["id"]
    read = await client.get(f"/items/{item_id}")
    patched = await client.patch(f"/items/{item_id}", json={"description": "Green"})
    replaced = await client.put(f"/items/{item_id}", json={"title": "Tea"})

    assert [r.headers["etag"] for r in (created, read, patched, replaced)] == [
        '"1"',
        '"1"',
        '"2"',
        '"3"',
    ]
    assert [r.json()["version"] for r in (created, read, patched, replaced)] == [1, 1, 2, 3]
    listed = (await client.get("/items")).json()["items"]
    assert [item["version"] for item in listed] == [3]


@pytest.mark.parametrize("method", WRITES)
@pytest.mark.parametrize(
    "stale", ['"1"', 'W/"2"', '"stale"', '"02"', '"99999999999999999999"', "", " , "]
)
async def test_a_write_at_another_version_is_412_with_the_current_etag_and_changes_nothing(
    client: AsyncClient, method: str, stale: str
) -> None:
    item = await create(client, title="Kept")
    current = (await client.patch(f"/items/{item['id']}", json={"description": "Kept"})).json()

    response = await write(client, method, item["id"], stale)

    assert response.status_code == 412, response.text
    assert response.headers["content-type"] == "application/problem+json"
    # A weak tag never matches, not even the current; an empty list names no version at all.
    assert response.headers["etag"] == '"2"'
    assert response.json()["detail"] == (
        f"Item {item['id']} has changed: it is at version 2, not one that If-Match named"
    )
    assert (await client.get(f"/items/{item['id']}")).json() == current


@pytest.mark.parametrize("method", WRITES)
@pytest.mark.parametrize("if_match", ['"2"', '"7", "2"', 'W/"1", "2"', "*", ' "2" ', ',"7",,"2",'])
async def test_a_write_at_a_version_named_or_any_succeeds(
    client: AsyncClient, method: str, if_match: str
) -> None:
    item = await create(client)
    await client.patch(f"/items/{item['id']}", json={"description": "v2"})

    response = await write(client, method, item["id"], if_match)

    assert response.status_code == (204 if method == "delete" else 200), response.text
    if method != "delete":
        assert response.headers["etag"] == '"3"'


async def test_if_match_on_several_lines_is_one_list(client: AsyncClient) -> None:
    item = await create(client)

    response = await client.patch(
        f"/items/{item['id']}",
        json={"title": "Two lines"},
        headers=[("If-Match", '"5"'), ("If-Match", '"1"')],
    )

    assert response.status_code == 200


@pytest.mark.parametrize("method", WRITES)
async def test_a_condition_on_a_missing_item_is_404(client: AsyncClient, method: str) -> None:
    for if_match in ('"1"', "*"):
        assert (await write(client, method, 999, if_match)).status_code == 404


@pytest.mark.parametrize("method", [*WRITES, "get"])
# The last: a shape that makes a careless pattern backtrack for minutes.
@pytest.mark.parametrize(
    "malformed", ["1", '"1', "W/1", '"1" "2"', '*, "1"', 'w/"1"', ('"a",' + " " * 20) * 300 + "x"]
)
async def test_a_malformed_condition_is_400_and_changes_nothing(
    client: AsyncClient, method: str, malformed: str
) -> None:
    item = await create(client)
    header = "If-None-Match" if method == "get" else "If-Match"

    response = await client.request(
        method, f"/items/{item['id']}", headers={header: malformed}, **WRITES.get(method, {})
    )

    assert response.status_code == 400, response.text
    assert response.json()["detail"] == (
        f'{header} must be "*" or entity tags, each in double quotes: "3", W/"3"'
    )
    assert (await client.get(f"/items/{item['id']}")).json() == item


@pytest.mark.parametrize("if_none_match", ['"1"', 'W/"1"', '"0", "1"', "*", ',"1",'])
async def test_a_read_at_a_version_the_client_has_is_304_with_no_body(
    client: AsyncClient, if_none_match: str
) -> None:
    item = await create(client)

    response = await client.get(f"/items/{item['id']}", headers={"If-None-Match": if_none_match})

    assert response.status_code == 304
    assert response.content == b""
    assert response.headers["etag"] == '"1"'


async def test_a_read_at_another_version_is_the_item(client: AsyncClient) -> None:
    item = await create(client)
    changed = (await client.patch(f"/items/{item['id']}", json={"title": "New"})).json()

    response = await client.get(f"/items/{item['id']}", headers={"If-None-Match": '"1"'})

    assert response.status_code == 200
    assert response.json() == changed
    assert response.headers["etag"] == '"2"'
    empty = await client.get(f"/items/{item['id']}", headers={"If-None-Match": ""})
    assert empty.status_code == 200  # an empty list names no version
    missing = await client.get("/items/999", headers={"If-None-Match": "*"})
    assert missing.status_code == 404


async def test_require_if_match_refuses_a_write_without_it_with_428(
    app: FastAPI, settings: Settings
) -> None:
    strict = settings.model_copy(update={"require_if_match": True})
    async with client_for(create_app(strict, database=app.state.database)) as client:
        item = await create(client)  # a POST makes a new item: no version to name
        statuses = {m: (await write(client, m, item["id"], None)).status_code for m in WRITES}
        refused = await write(client, "patch", item["id"], None)
        kept = (await client.get(f"/items/{item['id']}")).json()
        with_it = await write(client, "patch", item["id"], '"1"')

    assert statuses == {"put": 428, "patch": 428, "delete": 428}
    assert with_it.status_code == 200
    assert refused.headers["content-type"] == "application/problem+json"
    assert refused.json()["detail"] == (
        "This service changes an item only if the request says which version it read:"
        " send its ETag in If-Match"
    )
    assert kept == item


async def test_concurrent_appends_through_if_match_lose_none(committing_app: FastAPI) -> None:
    """16 clients each append a word to one item's description: read it, write it back with
    If-Match, and read and try again on a 412. Every word is kept, once."""
    words = [f"w{n}" for n in range(16)]
    async with client_for(committing_app) as client:
        url = f"/items/{(await create(client, description=''))['id']}"
        refused = await append_at_once(client, url, words)
        final = (await client.get(url)).json()

    assert sorted(final["description"].split()) == sorted(words)
    assert final["version"] == 17
    assert refused[412] > 0  # the clients did overlap
    assert refused[409] == 0  # at read committed, no write lost a race to another
