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


def as_sent(statements: list[str], settings: Settings, *, read: bool) -> list[str]:
    """`statements`, as a session sends them. Behind a transaction-mode pooler, each transaction
    sets the limits on waits first (a SELECT: see dialect.prepare), and a read session's reads
    are in a read-only transaction of their own, rolled back as it closes (see
    dialect.engine_options)."""
    if settings.database_pooler != "transaction" or not statements:
        return statements
    if read:
        return ["BEGIN", "SELECT", *statements, "ROLLBACK"]
    begin, *rest = statements
    return [begin, "SELECT", *rest]
{%- endif %}
