"""Data access for items: functions that work in the caller's session and never commit.

Each write is a single statement that returns the row it wrote, so a write costs one round trip.
"""

from collections.abc import Sequence
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from .models import Item
from .schemas import ItemCreate


async def get_item(session: AsyncSession, item_id: int) -> Item | None:
    return await session.get(Item, item_id)


async def list_items(
    session: AsyncSession, *, offset: int, limit: int
) -> tuple[Sequence[Item], int]:
    """One page of items, oldest first, and the number of items in all."""
    total = await session.scalar(select(func.count()).select_from(Item)) or 0
    page = await session.scalars(select(Item).order_by(Item.id).offset(offset).limit(limit))
    return page.all(), total


async def create_item(session: AsyncSession, data: ItemCreate) -> Item:
    item = Item(**data.model_dump())
    session.add(item)
    await session.flush()
    return item


async def update_item(session: AsyncSession, item_id: int, values: dict[str, Any]) -> Item | None:
    """Set the given columns of an item; None if there is no such item."""
    statement = update(Item).where(Item.id == item_id).values(values).returning(Item)
    return (await session.scalars(statement)).one_or_none()


async def delete_item(session: AsyncSession, item_id: int) -> bool:
    """Delete an item; False if there was no such item."""
    statement = delete(Item).where(Item.id == item_id).returning(Item.id)
    return (await session.execute(statement)).first() is not None
