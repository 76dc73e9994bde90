"""The list of items, a page at a time: in order, linked, bounded, and steady while items come
and go."""

import random
from typing import Any

import pytest
from httpx2 import AsyncClient
from item_requests import create


async def pages(client: AsyncClient, limit: int) -> list[dict[str, Any]]:
    """Every page of the list, following each page's cursor from the first."""
    pages = [(await client.get("/items", params={"limit": limit})).json()]
    while pages[-1]["next_cursor"]:
        params = {"limit": limit, "cursor": pages[-1]["next_cursor"]}
        pages.append((await client.get("/items", params=params)).json())
    return pages


async def test_list_pages_through_items_oldest_first(client: AsyncClient) -> None:
    ids = [(await create(client, title=f"Item {n}"))["id"] for n in range(5)]

    listed = await pages(client, limit=2)

    assert [[item["id"] for item in page["items"]] for page in listed] == [
        ids[:2],
        ids[2:4],
        ids[4:],
    ]
    assert listed[-1]["next_cursor"] is None
    assert all(page["total"] is None for page in listed)  # not counted unless asked for


async def test_a_full_last_page_has_no_next_page(client: AsyncClient) -> None:
    for n in range(4):
        await create(client, title=f"Item {n}")

    # Not a third, empty page: the service reads one item more than a page to know.
    assert [len(page["items"]) for page in await pages(client, limit=2)] == [2, 2]


async def test_the_next_page_is_linked_from_the_response(client: AsyncClient) -> None:
    for n in range(3):
        await create(client, title=f"Item {n}")

    first = await client.get("/items", params={"limit": 2, "with_total": True})
    cursor = first.json()["next_cursor"]
    link = f'<http://test/items?limit=2&with_total=true&cursor={cursor}>; rel="next"'

    assert first.headers["link"] == link
    assert first.json()["total"] == 3
    last = await client.get("/items", params={"limit": 2, "cursor": cursor})
    assert "link" not in last.headers


async def test_list_defaults_to_twenty_items(client: AsyncClient) -> None:
    for n in range(21):
        await create(client, title=f"Item {n}")

    page = (await client.get("/items", params={"with_total": True})).json()

    assert len(page["items"]) == 20
    assert page["total"] == 21


async def test_paging_while_items_come_and_go_skips_and_repeats_none_that_stay(
    client: AsyncClient,
) -> None:
    seed = random.randrange(2**32)
    chance = random.Random(seed)
    stay = [(await create(client, title=f"Stays {n}"))["id"] for n in range(30)]
    come_and_go = [(await create(client, title=f"Goes {n}"))["id"] for n in range(30)]
    chance.shuffle(come_and_go)
    seen: list[int] = []
    page = (await client.get("/items", params={"limit": 7})).json()
    while True:
        seen += [item["id"] for item in page["items"]]
        for _ in range(chance.randrange(3)):  # between two pages, some go and some come
            if come_and_go:
                await client.delete(f"/items/{come_and_go.pop()}")
            await create(client, title="Came")
        if not page["next_cursor"]:
            break
        params = {"limit": 7, "cursor": page["next_cursor"]}
        page = (await client.get("/items", params=params)).json()

    assert len(seen) == len(set(seen)), f"an item repeated (seed {seed})"
    assert set(stay) <= set(seen), f"an item skipped (seed {seed})"
    assert seen == sorted(seen), f"out of order (seed {seed})"


@pytest.mark.parametrize(
    "params",
    [
        {"limit": 0},
        {"limit": 101},
        {"limit": "many"},
        {"cursor": "short"},
        {"cursor": "not a cursor at all!"},
    ],
)
async def test_list_rejects_out_of_bounds_paging(
    client: AsyncClient, params: dict[str, Any]
) -> None:
    response = await client.get("/items", params=params)

    assert response.status_code == 422
    assert response.json()["errors"][0]["loc"][:2] == ["query", next(iter(params))]


async def test_a_damaged_cursor_is_refused_never_read_as_another_page(client: AsyncClient) -> None:
    for n in range(3):
        await create(client, title=f"Item {n}")
    cursor = (await client.get("/items", params={"limit": 1})).json()["next_cursor"]
    damaged = [
        cursor[:i] + ("A" if cursor[i] != "A" else "B") + cursor[i + 1 :]
        for i in range(len(cursor))
    ]

    for each in damaged:
        response = await client.get("/items", params={"cursor": each})
        assert response.status_code == 422, (each, response.text)
        [error] = response.json()["errors"]
        assert error["loc"] == ["query", "cursor"]
        assert error["msg"] == "a damaged cursor: use next_cursor exactly as this service gave it"


async def test_a_cursor_whose_item_was_deleted_still_leads_to_the_next_page(
    client: AsyncClient,
) -> None:
    ids = [(await create(client, title=f"Item {n}"))["id"] for n in range(3)]
    cursor = (await client.get("/items", params={"limit": 1})).json()["next_cursor"]
    assert (await client.delete(f"/items/{ids[0]}")).status_code == 204

    page = (await client.get("/items", params={"cursor": cursor})).json()

    assert [item["id"] for item in page["items"]] == ids[1:]
