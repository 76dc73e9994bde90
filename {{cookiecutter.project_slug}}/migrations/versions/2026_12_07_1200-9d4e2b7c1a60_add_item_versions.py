{%- set sqlite = cookiecutter.database == "sqlite" -%}
"""Add items.version, the ETag of each item{{ ", and never reuse an id" if sqlite }}.

Revision ID: 9d4e2b7c1a60
Revises: 5c0f1a7e2b3d
Create Date: 2026-12-07 12:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "9d4e2b7c1a60"
down_revision: str | None = "5c0f1a7e2b3d"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
{%- if sqlite %}
    # SQLite cannot make a table AUTOINCREMENT in place: the batch copies it into a new one.
    with op.batch_alter_table(
        "items", recreate="always", table_kwargs={"sqlite_autoincrement": True}
    ) as items:
        items.add_column(
            sa.Column("version", sa.Integer(), server_default=sa.text("1"), nullable=False)
        )
{%- else %}
    op.add_column(
        "items", sa.Column("version", sa.Integer(), server_default=sa.text("1"), nullable=False)
    )
{%- endif %}


def downgrade() -> None:
{%- if sqlite %}
    with op.batch_alter_table("items", recreate="always") as items:
        items.drop_column("version")
{%- else %}
    op.drop_column("items", "version")
{%- endif %}
