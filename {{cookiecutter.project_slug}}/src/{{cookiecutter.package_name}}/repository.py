{%- set is_async = cookiecutter | session_style == "async" -%}
{%- set async_ = "async " if is_async else "" -%}
{%- set aw = "await " if is_async else "" -%}
{%- set Session = "AsyncSession" if is_async else "Session" -%}
"""Data access for items, in the caller's session, never committing (writes take a `WriteSession`).

Items are the fast path: SQLAlchemy Core statements, built once, that return rows. New code
uses ORM objects, as docs/adding-a-resource.md shows (and says why).
"""

from collections.abc import Collection, Sequence
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Row, Table, bindparam, delete, func, insert, select, update
{%- if is_async %}
from sqlalchemy.ext.asyncio import AsyncSession
{%- else %}
from sqlalchemy.orm import Session
{%- endif %}

from .database import WriteSession
from .models import Item
from .schemas import ItemCreate

# An item as the statements below return it: the items table's columns, in the model's order.
ItemRow = Row[int, str, str | None, str | None, datetime, datetime, int]

# The table itself (declarative mapping types it as any FROM clause): a statement that names
# a mapped attribute, such as Item.id, is run through the ORM even when it selects columns.
_items = cast(Table, Item.__table__)
_ITEM = select(*_items.c).where(_items.c.id == bindparam("item_id"))
_PAGE = (
    select(*_items.c)
    .where(_items.c.id > bindparam("after"))
    .order_by(_items.c.id)
    .limit(bindparam("limit"))
)
_COUNT = select(func.count()).select_from(_items)
_INSERT = insert(_items).returning(*_items.c)  # the database's defaults come back too
_INSERT_MANY = insert(_items)
# SET takes the columns named in the parameters, so one statement serves every change; each
# raises the version, in the same statement.
_UPDATE = (
    update(_items)
    .where(_items.c.id == bindparam("item_id"))
    .values(version=_items.c.version + 1)
    .returning(*_items.c)
)
_DELETE = delete(_items).where(_items.c.id == bindparam("item_id")).returning(_items.c.id)
# The same, only if the item is at one of `versions`: the check and the write are one statement,
# so no other write can come between them.
_AT_VERSIONS = _items.c.version.in_(bindparam("versions", expanding=True))
_UPDATE_IF = _UPDATE.where(_AT_VERSIONS)
_DELETE_IF = _DELETE.where(_AT_VERSIONS)


{{ async_ }}def get_item(session: {{ Session }}, item_id: int) -> ItemRow | None:
    return {{ "(await " if is_async }}session.execute(_ITEM, {"item_id": item_id}){{ ")" if is_async }}.first()


{{ async_ }}def list_items(session: {{ Session }}, *, after: int, limit: int) -> Sequence[ItemRow]:
    """Up to `limit` items, in id order (oldest first), after the item `after` (0: from the
    first): one indexed range scan, whose cost does not grow with the table or the depth."""
    return {{ "(await " if is_async }}session.execute(_PAGE, {"after": after, "limit": limit}){{ ")" if is_async }}.all()


{{ async_ }}def count_items(session: {{ Session }}) -> int:
    """The number of items: on PostgreSQL, a scan of the whole table."""
    return {{ aw }}session.scalar(_COUNT) or 0


{{ async_ }}def create_item(session: WriteSession, data: ItemCreate) -> ItemRow:
    return {{ "(await " if is_async }}session.execute(_INSERT, data.model_dump()){{ ")" if is_async }}.one()


{{ async_ }}def create_items(session: WriteSession, items: Sequence[ItemCreate]) -> None:
    """Create many items in one statement (or as few as the driver can): for seeds and imports."""
    {{ aw }}session.execute(_INSERT_MANY, [item.model_dump() for item in items])


{{ async_ }}def update_item(
    session: WriteSession,
    item_id: int,
    data: dict[str, Any],
    *,
    versions: Collection[int] | None = None,
) -> ItemRow | None:
    """Set the given columns of an item, if it is at one of `versions` (None: at any); None if
    there is no such item, or not at those versions. The update also raises `version`, and sets
    `updated_at` as the model's `onupdate` says."""
    parameters = {"item_id": item_id, **data}
    statement = _UPDATE
    if versions is not None:
        statement, parameters["versions"] = _UPDATE_IF, versions
    return {{ "(await " if is_async }}session.execute(statement, parameters){{ ")" if is_async }}.first()


{{ async_ }}def delete_item(
    session: WriteSession, item_id: int, *, versions: Collection[int] | None = None
) -> bool:
    """Delete an item, if it is at one of `versions` (None: at any); False if there is no such
    item, or not at those versions."""
    parameters: dict[str, Any] = {"item_id": item_id}
    statement = _DELETE
    if versions is not None:
        statement, parameters["versions"] = _DELETE_IF, versions
    return {{ "(await " if is_async }}session.execute(statement, parameters){{ ")" if is_async }}.first() is not None
