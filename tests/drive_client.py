"""Drive a served project through a client generated from its OpenAPI schema, as its users would.

    python drive_client.py BASE_URL    (with the generated `items_client` package importable)

Run by `test_a_client_generated_from_the_schema_drives_the_api`, in a process of its own, so
that each project's client is imported afresh. Exits non-zero, with the step that failed, if
any call does not answer as the schema promises; prints what it did.
"""

from __future__ import annotations

import sys

from items_client import Client  # type: ignore[import-not-found]
from items_client.api.health import liveness, readiness  # type: ignore[import-not-found]
from items_client.api.items import (  # type: ignore[import-not-found]
    create_item,
    delete_item,
    list_items,
    read_item,
    replace_item,
    update_item,
)
from items_client.models import (  # type: ignore[import-not-found]
    Health,
    ItemCreate,
    ItemPage,
    ItemRead,
    ItemReplace,
    ItemUpdate,
    Problem,
)


def main(base_url: str) -> None:
    client = Client(base_url=base_url, raise_on_unexpected_status=True)

    assert isinstance(liveness.sync(client=client), Health)
    assert isinstance(readiness.sync(client=client), Health)

    tea = create_item.sync(client=client, body=ItemCreate(title="Tea", sku="tea-1"))
    assert isinstance(tea, ItemRead), tea
    assert (tea.title, tea.sku) == ("Tea", "TEA-1")
    assert read_item.sync(tea.id, client=client) == tea

    coffee = create_item.sync(client=client, body=ItemCreate(title="Coffee"))
    assert isinstance(coffee, ItemRead), coffee
    page = list_items.sync(client=client, limit=1, with_total=True)
    assert isinstance(page, ItemPage), page
    assert ([item.id for item in page.items], page.total) == ([tea.id], 2)
    last = list_items.sync(client=client, limit=1, cursor=page.next_cursor)
    assert isinstance(last, ItemPage), last
    assert ([item.id for item in last.items], last.next_cursor) == ([coffee.id], None)

    updated = update_item.sync(tea.id, client=client, body=ItemUpdate(description="Green"))
    assert isinstance(updated, ItemRead), updated
    assert (updated.title, updated.description) == ("Tea", "Green")
    replaced = replace_item.sync(tea.id, client=client, body=ItemReplace(title="Black tea"))
    assert isinstance(replaced, ItemRead), replaced
    assert (replaced.title, replaced.description, replaced.sku) == ("Black tea", None, None)

    # Errors come back as the typed problem the schema documents.
    with_sku = update_item.sync(coffee.id, client=client, body=ItemUpdate(sku="C-1"))
    assert isinstance(with_sku, ItemRead), with_sku
    conflict = create_item.sync(client=client, body=ItemCreate(title="Mocha", sku="c-1"))
    assert isinstance(conflict, Problem), conflict
    assert (conflict.status, conflict.detail) == (409, "Another item already has this sku")
    assert [error.loc for error in conflict.errors] == [["body", "sku"]]

    assert delete_item.sync_detailed(tea.id, client=client).status_code == 204
    missing = read_item.sync(tea.id, client=client)
    assert isinstance(missing, Problem), missing
    assert (missing.status, missing.detail) == (404, f"Item {tea.id} not found")
    invalid = create_item.sync(client=client, body=ItemCreate(title=""))
    assert isinstance(invalid, Problem), invalid
    assert invalid.status == 422
    print("created, read, listed, updated, replaced and deleted; 404, 409 and 422 typed")


if __name__ == "__main__":
    main(sys.argv[1])
