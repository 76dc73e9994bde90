{%- set sqlite = cookiecutter.database == "sqlite" -%}
"""Add items.owner, the subject whose item it is; a sku is unique per owner.

An item that exists already has no owner to give it: with items in the table, this migration
fails (NOT NULL), and nothing is changed. Give them one in a migration of your own first.

Revision ID: 3f8a6c2d9b41
Revises: 9d4e2b7c1a60
Create Date: 2026-12-07 15:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "3f8a6c2d9b41"
down_revision: str | None = "9d4e2b7c1a60"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
{%- if sqlite %}
    # SQLite changes constraints by copying the table into a new one, AUTOINCREMENT kept.
    with op.batch_alter_table(
        "items", recreate="always", table_kwargs={"sqlite_autoincrement": True}
    ) as items:
        items.add_column(sa.Column("owner", sa.String(length=255), nullable=False))
        items.drop_constraint("uq_items_sku", type_="unique")
        items.create_unique_constraint("uq_items_owner", ["owner", "sku"])
        items.create_index("ix_items_owner_id", ["owner", "id"])
{%- else %}
    op.add_column("items", sa.Column("owner", sa.String(length=255), nullable=False))
    op.drop_constraint("uq_items_sku", "items", type_="unique")
    op.create_unique_constraint("uq_items_owner", "items", ["owner", "sku"])
    op.create_index("ix_items_owner_id", "items", ["owner", "id"])
{%- endif %}


def downgrade() -> None:
{%- if sqlite %}
    with op.batch_alter_table(
        "items", recreate="always", table_kwargs={"sqlite_autoincrement": True}
    ) as items:
        items.drop_index("ix_items_owner_id")
        items.drop_constraint("uq_items_owner", type_="unique")
        items.create_unique_constraint("uq_items_sku", ["sku"])
        items.drop_column("owner")
{%- else %}
    op.drop_index("ix_items_owner_id", table_name="items")
    op.drop_constraint("uq_items_owner", "items", type_="unique")
    op.create_unique_constraint("uq_items_sku", "items", ["sku"])
    op.drop_column("items", "owner")
{%- endif %}
