"""Database tables, as SQLAlchemy ORM classes."""

from datetime import datetime

from sqlalchemy import MetaData, String, func
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from .dialect import Timestamp

TITLE_MAX_LENGTH = 200
DESCRIPTION_MAX_LENGTH = 2000
SKU_MAX_LENGTH = 64


class Base(DeclarativeBase):
    # Constraint and index names that migrations can refer to on every database.
    metadata = MetaData(
        naming_convention={
            "ix": "ix_%(column_0_label)s",
            "uq": "uq_%(table_name)s_%(column_0_name)s",
            "ck": "ck_%(table_name)s_%(constraint_name)s",
            "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
            "pk": "pk_%(table_name)s",
        }
    )


class Item(Base):
    __tablename__ = "items"

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(TITLE_MAX_LENGTH))
    description: Mapped[str | None] = mapped_column(String(DESCRIPTION_MAX_LENGTH))
    # A stock-keeping unit: optional, and unique among the items that have one.
    sku: Mapped[str | None] = mapped_column(String(SKU_MAX_LENGTH), unique=True)
    created_at: Mapped[datetime] = mapped_column(Timestamp, server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(
        Timestamp, server_default=func.now(), onupdate=func.now()
    )
