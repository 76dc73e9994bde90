"""What each endpoint may send to the database: the budgets that test_sessions.py pins."""

from typing import Any

# What each endpoint sends to the database, by engine, BEGIN and COMMIT included (an endpoint:
# its body, the writer's statements, the reader's). A change that adds a statement fails
# test_each_endpoint_keeps_to_its_statement_budget, which names the endpoint and what it sent.
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
