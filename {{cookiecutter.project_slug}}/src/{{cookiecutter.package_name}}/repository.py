{%- set is_async = cookiecutter | session_style == "async" -%}
{%- set async_ = "async " if is_async else "" -%}
{%- set aw = "await " if is_async else "" -%}
{%- set Session = "AsyncSession" if is_async else "Session" -%}
"""Data access for items: functions that work in the caller's session and never commit.

Functions that only read take any session; those that write take a `WriteSession`, which
only the request dependency for writes hands out, so that mypy refuses them a read session.

Each write is one statement that returns the row it wrote (INSERT, UPDATE or DELETE ...
RETURNING), so that no second query fetches it back; reading an item is one statement too.
Statements that are the same on every call are built once, here, so that SQLAlchemy does not
work out their cache keys on every call.
"""

from collections.abc import Sequence
from typing import Any

from sqlalchemy import bindparam, delete, func, select, update
{%- if is_async %}
from sqlalchemy.ext.asyncio import AsyncSession
{%- else %}
from sqlalchemy.orm import Session
{%- endif %}

from .database import WriteSession
from .models import Item
from .schemas import ItemCreate

_ITEM = select(Item).where(Item.id == bindparam("item_id"))
_PAGE = select(Item).where(Item.id > bindparam("after")).order_by(Item.id).limit(bindparam("limit"))
_COUNT = select(func.count()).select_from(Item)
_DELETE = delete(Item).where(Item.id == bindparam("item_id")).returning(Item.id)


{{ async_ }}def get_item(session: {{ Session }}, item_id: int) -> Item | None:
    return {{ "(await " if is_async }}session.scalars(_ITEM, {"item_id": item_id}){{ ")" if is_async }}.one_or_none()


{{ async_ }}def list_items(session: {{ Session }}, *, after: int, limit: int) -> Sequence[Item]:
    """Up to `limit` items, in id order (oldest first), after the item `after` (0: from the
    first): one indexed range scan, whose cost does not grow with the table or the depth."""
    return {{ "(await " if is_async }}session.scalars(_PAGE, {"after": after, "limit": limit}){{ ")" if is_async }}.all()


{{ async_ }}def count_items(session: {{ Session }}) -> int:
    """The number of items: on PostgreSQL, a scan of the whole table."""
    return {{ aw }}session.scalar(_COUNT) or 0


{{ async_ }}def create_item(session: WriteSession, data: ItemCreate) -> Item:
    item = Item(**data.model_dump())
    session.add(item)
    {{ aw }}session.flush()  # one INSERT ... RETURNING, which also fetches the database's defaults
    return item


{{ async_ }}def update_item(session: WriteSession, item_id: int, values: dict[str, Any]) -> Item | None:
    """Set the given columns of an item; None if there is no such item."""
    statement = update(Item).where(Item.id == item_id).values(values).returning(Item)
    return {{ "(await " if is_async }}session.scalars(statement){{ ")" if is_async }}.one_or_none()


{{ async_ }}def delete_item(session: WriteSession, item_id: int) -> bool:
    """Delete an item; False if there was no such item."""
    return {{ "(await " if is_async }}session.execute(_DELETE, {"item_id": item_id}){{ ")" if is_async }}.first() is not None
