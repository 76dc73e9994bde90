{%- set is_async = cookiecutter | session_style == "async" -%}
{%- set async_ = "async " if is_async else "" -%}
{%- set aw = "await " if is_async else "" -%}
{%- set Session = "AsyncSession" if is_async else "Session" -%}
{%- set oidc = cookiecutter.auth == "oidc" -%}
{%- set owned = ", _OWNED" if oidc else "" -%}
"""Data access for items, in the caller's session, never committing (writes take a `WriteSession`).
{%- if oidc %}
Each function works on the items of one `owner` only: to it, another's are not there.
{%- endif %}

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
ItemRow = Row[int, str, str | None, str | None, datetime, datetime, int{{ ", str" if oidc }}]

# The table itself (declarative mapping types it as any FROM clause): a statement that names
# a mapped attribute, such as Item.id, is run through the ORM even when it selects columns.
_items = cast(Table, Item.__table__)
{%- if oidc %}
# Named apart from the column: an UPDATE's SET takes the parameters that name columns.
_OWNED = _items.c.owner == bindparam("owned_by")
{%- endif %}
_ITEM = select(*_items.c).where(_items.c.id == bindparam("item_id"){{ owned }})
_PAGE = (
    select(*_items.c)
    .where({{ "_OWNED, " if oidc }}_items.c.id > bindparam("after"))
    .order_by(_items.c.id)
    .limit(bindparam("limit"))
)
_COUNT = select(func.count()).select_from(_items){{ ".where(_OWNED)" if oidc }}
_INSERT = insert(_items).returning(*_items.c)  # the database's defaults come back too
_INSERT_MANY = insert(_items)
# SET takes the columns named in the parameters, so one statement serves every change; each
# raises the version, in the same statement.
_UPDATE = (
    update(_items)
    .where(_items.c.id == bindparam("item_id"){{ owned }})
    .values(version=_items.c.version + 1)
    .returning(*_items.c)
)
{%- if oidc %}
_DELETE = delete(_items).where(_items.c.id == bindparam("item_id"), _OWNED).returning(_items.c.id)
{%- else %}
_DELETE = delete(_items).where(_items.c.id == bindparam("item_id")).returning(_items.c.id)
{%- endif %}
# The same, only if the item is at one of `versions`: the check and the write are one statement,
# so no other write can come between them.
_AT_VERSIONS = _items.c.version.in_(bindparam("versions", expanding=True))
_UPDATE_IF = _UPDATE.where(_AT_VERSIONS)
_DELETE_IF = _DELETE.where(_AT_VERSIONS)


{% if oidc -%}
{{ async_ }}def get_item(session: {{ Session }}, item_id: int, *, owner: str) -> ItemRow | None:
    parameters = {"item_id": item_id, "owned_by": owner}
    return {{ "(await " if is_async }}session.execute(_ITEM, parameters){{ ")" if is_async }}.first()


{% if is_async -%}
async def list_items(
    session: AsyncSession, *, owner: str, after: int, limit: int
) -> Sequence[ItemRow]:
{%- else -%}
def list_items(session: Session, *, owner: str, after: int, limit: int) -> Sequence[ItemRow]:
{%- endif %}
    """Up to `limit` of `owner`'s items, in id order (oldest first), after the item `after` (0:
    from the first): one range scan of an index, whose cost grows with neither the table nor
    the depth."""
    parameters = {"owned_by": owner, "after": after, "limit": limit}
    return {{ "(await " if is_async }}session.execute(_PAGE, parameters){{ ")" if is_async }}.all()


{{ async_ }}def count_items(session: {{ Session }}, *, owner: str) -> int:
    """The number of `owner`'s items: on PostgreSQL, a scan of their part of the index."""
    return {{ aw }}session.scalar(_COUNT, {"owned_by": owner}) or 0


{{ async_ }}def create_item(session: WriteSession, data: ItemCreate, *, owner: str) -> ItemRow:
    parameters = data.model_dump() | {"owner": owner}
    return {{ "(await " if is_async }}session.execute(_INSERT, parameters){{ ")" if is_async }}.one()


{{ async_ }}def create_items(session: WriteSession, items: Sequence[ItemCreate], *, owner: str) -> None:
    """Create many items in one statement (or as few as the driver can): for seeds and imports."""
    {{ aw }}session.execute(_INSERT_MANY, [item.model_dump() | {"owner": owner} for item in items])
{%- else -%}
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
{%- endif %}


{{ async_ }}def update_item(
    session: WriteSession,
    item_id: int,
    data: dict[str, Any],
    *,
{%- if oidc %}
    owner: str,
{%- endif %}
    versions: Collection[int] | None = None,
) -> ItemRow | None:
{%- if oidc %}
    """Set the given columns of an item of `owner`'s, if it is at one of `versions` (None: at
    any); None if `owner` has no such item, or not at those versions. The update also raises
    `version`, and sets `updated_at` as the model's `onupdate` says."""
{%- else %}
    """Set the given columns of an item, if it is at one of `versions` (None: at any); None if
    there is no such item, or not at those versions. The update also raises `version`, and sets
    `updated_at` as the model's `onupdate` says."""
{%- endif %}
    parameters = {"item_id": item_id, **data{{ ', "owned_by": owner' if oidc }}}
    statement = _UPDATE
    if versions is not None:
        statement, parameters["versions"] = _UPDATE_IF, versions
    return {{ "(await " if is_async }}session.execute(statement, parameters){{ ")" if is_async }}.first()


{% if oidc -%}
{{ async_ }}def delete_item(
    session: WriteSession, item_id: int, *, owner: str, versions: Collection[int] | None = None
) -> bool:
    """Delete an item of `owner`'s, if it is at one of `versions` (None: at any); False if
    `owner` has no such item, or not at those versions."""
{%- else -%}
{{ async_ }}def delete_item(
    session: WriteSession, item_id: int, *, versions: Collection[int] | None = None
) -> bool:
    """Delete an item, if it is at one of `versions` (None: at any); False if there is no such
    item, or not at those versions."""
{%- endif %}
    parameters: dict[str, Any] = {"item_id": item_id{{ ', "owned_by": owner' if oidc }}}
    statement = _DELETE
    if versions is not None:
        statement, parameters["versions"] = _DELETE_IF, versions
    return {{ "(await " if is_async }}session.execute(statement, parameters){{ ")" if is_async }}.first() is not None
