"""What each endpoint may send to the database: the budgets that test_statement_budgets.py
pins."""

from typing import Any
{%- if cookiecutter.database == "postgresql" %}

from {{ cookiecutter.package_name }}.settings import Settings
{%- endif %}

# What each path names, made first by a POST of this body to this path, twice: a list that
# sends a statement per row goes over its budget.
MADE_FIRST: dict[str, tuple[str, dict[str, Any]]] = {
    "item_id": ("/items", {"title": "Counted"}),
}
# Each endpoint's body, then what its writer and its reader send, BEGIN and COMMIT included.
STATEMENT_BUDGETS: dict[str, tuple[dict[str, Any] | None, list[str], list[str]]] = {
    "POST /items": ({"title": "Counted"}, ["BEGIN", "INSERT", "COMMIT"], []),
    "GET /items/{item_id}": (None, [], ["SELECT"]),
    "GET /items": (None, [], ["SELECT"]),
    "GET /items?with_total=true": (None, [], ["SELECT", "SELECT"]),
    "PUT /items/{item_id}": ({"title": "Replaced"}, ["BEGIN", "UPDATE", "COMMIT"], []),
    "PATCH /items/{item_id}": ({"description": "Changed"}, ["BEGIN", "UPDATE", "COMMIT"], []),
    "DELETE /items/{item_id}": (None, ["BEGIN", "DELETE", "COMMIT"], []),
    "GET /health/live": (None, [], []),
{%- if cookiecutter.database == "sqlite" %}
    "GET /health/ready": (None, [], ["SELECT"]),
{%- else %}
    # The migration the database is at, under a statement timeout of the check's own.
    "GET /health/ready": (None, [], ["SET", "SELECT", "RESET"]),
{%- endif %}
}
{%- if cookiecutter.database == "postgresql" %}


def as_a_read_session_sends(reads: list[str], settings: Settings) -> list[str]:
    """`reads`, as a read session sends them: behind a transaction-mode pooler, in a read-only
    transaction of the session's own, rolled back as it closes (see dialect.engine_options)."""
    if settings.database_pooler == "transaction" and reads:
        return ["BEGIN", *reads, "ROLLBACK"]
    return reads
{%- endif %}
