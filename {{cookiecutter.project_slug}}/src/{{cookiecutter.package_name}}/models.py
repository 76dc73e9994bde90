{%- set sqlite = cookiecutter.database == "sqlite" -%}
{%- set oidc = cookiecutter.auth == "oidc" -%}
"""Database tables, as SQLAlchemy ORM classes."""

from datetime import datetime

from sqlalchemy import {{ "Index, " if oidc }}MetaData, String, {{ "UniqueConstraint, " if oidc }}func, text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from .dialect import Timestamp

TITLE_MAX_LENGTH = 200
DESCRIPTION_MAX_LENGTH = 2000
SKU_MAX_LENGTH = 64
{%- if oidc %}
SUBJECT_MAX_LENGTH = 255  # OpenID Connect's bound on `sub`
{%- endif %}


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
{%- if oidc %}
    __table_args__ = (
        # A sku is unique among its owner's items; each owner's items are read in id order.
        UniqueConstraint("owner", "sku"),
        Index("ix_items_owner_id", "owner", "id"),
{%- if sqlite %}
        # No id is used twice, not even the last one after it is deleted: a URL or an ETag
        # that named a deleted item never names a newer one.
        {"sqlite_autoincrement": True},
{%- endif %}
    )
{%- elif sqlite %}
    # No id is used twice, not even the last one after it is deleted: a URL or an ETag that
    # named a deleted item never names a newer one.
    __table_args__ = ({"sqlite_autoincrement": True},)
{%- endif %}

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(TITLE_MAX_LENGTH))
    description: Mapped[str | None] = mapped_column(String(DESCRIPTION_MAX_LENGTH))
{%- if oidc %}
    # A stock-keeping unit: optional, and unique among its owner's items that have one.
    sku: Mapped[str | None] = mapped_column(String(SKU_MAX_LENGTH))
{%- else %}
    # A stock-keeping unit: optional, and unique among the items that have one.
    sku: Mapped[str | None] = mapped_column(String(SKU_MAX_LENGTH), unique=True)
{%- endif %}
    created_at: Mapped[datetime] = mapped_column(Timestamp, server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(
        Timestamp, server_default=func.now(), onupdate=func.now()
    )
    # 1 when made, one more at each write, in the statement that writes: the item's ETag, which
    # a client names in If-Match to write only over the version it read (conditions.py). The
    # ORM raises it too, and refuses a flush over another version (StaleDataError).
    version: Mapped[int] = mapped_column(server_default=text("1"))
{%- if oidc %}
    # Whose it is: the subject (`sub`) of the token that created it. A caller reads, lists and
    # changes its own items only; another's is a 404 (auth.py, docs/auth.md).
    owner: Mapped[str] = mapped_column(String(SUBJECT_MAX_LENGTH))
{%- endif %}

    # Read once, as the class is made (ruff takes it for a mutable default).
    __mapper_args__ = {"version_id_col": version}  # noqa: RUF012
