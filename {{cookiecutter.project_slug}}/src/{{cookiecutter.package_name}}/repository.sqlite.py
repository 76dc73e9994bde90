"""Data access for items: functions that work in the caller's session and never commit.

Each write is a single statement that returns the row it wrote, so a write costs one round trip
and takes SQLite's write lock with its first statement.
"""

from collections.abc import Sequence
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from .models import Item
from .schemas import ItemCreate


def get_item(session: Session, item_id: int) -> Item | None:
    return session.get(Item, item_id)


def list_items(session: Session, *, offset: int, limit: int) -> tuple[Sequence[Item], int]:
    """One page of items, oldest first, and the number of items in all."""
    total = session.scalar(select(func.count()).select_from(Item)) or 0
    items = session.scalars(select(Item).order_by(Item.id).offset(offset).limit(limit)).all()
    return items, total


def create_item(session: Session, data: ItemCreate) -> Item:
    item = Item(**data.model_dump())
    session.add(item)
    session.flush()
    return item


def update_item(session: Session, item_id: int, values: dict[str, Any]) -> Item | None:
    """Set the given columns of an item; None if there is no such item."""
    statement = update(Item).where(Item.id == item_id).values(values).returning(Item)
    return session.scalars(statement).one_or_none()


def delete_item(session: Session, item_id: int) -> bool:
    """Delete an item; False if there was no such item."""
    statement = delete(Item).where(Item.id == item_id).returning(Item.id)
    return session.execute(statement).first() is not None
