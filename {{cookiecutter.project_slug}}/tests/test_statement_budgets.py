{%- set is_async = cookiecutter | session_style == "async" -%}
{%- set async_ = "async " if is_async else "" -%}
{%- set aw = "await " if is_async else "" -%}
{%- set Client = "AsyncClient" if is_async else "TestClient" -%}
"""What each request sends to the database, statement by statement (statement_budgets.py)."""

from collections.abc import Callable

import pytest
{% if is_async -%}
from httpx2 import AsyncClient
{% else -%}
from fastapi.testclient import TestClient
{% endif -%}
from statement_budgets import MADE_FIRST, STATEMENT_BUDGETS{% if cookiecutter.database == "postgresql" %}, as_sent{% endif %}

from {{ cookiecutter.package_name }}.main import create_app
from {{ cookiecutter.package_name }}.settings import Settings


{{ async_ }}def test_a_read_is_one_statement_and_a_write_one_inside_its_transaction(
{%- if cookiecutter.database == "postgresql" %}
    committing_client: {{ Client }},
    statements: Callable[[], dict[str, list[str]]],
    own_settings: Settings,
{%- else %}
    committing_client: {{ Client }}, statements: Callable[[], dict[str, list[str]]]
{%- endif %}
) -> None:
    item = {{ "(await " if is_async }}committing_client.post("/items", json={"title": "Counted"}){{ ")" if is_async }}.json()
    assert {{ "(await " if is_async }}committing_client.get(f"/items/{item['id']}"){{ ")" if is_async }}.status_code == 200
    assert {{ "(await " if is_async }}committing_client.get("/items"){{ ")" if is_async }}.json()["items"][0]["title"] == "Counted"

    sent = statements()
{%- if cookiecutter.database == "postgresql" %}
    write = as_sent(["BEGIN", "INSERT", "COMMIT"], own_settings, read=False)
    assert [statement.split()[0] for statement in sent["writer"]] == write
{%- else %}
    assert [statement.split()[0] for statement in sent["writer"]] == ["BEGIN", "INSERT", "COMMIT"]
{%- endif %}
{%- if cookiecutter.database == "sqlite" %}
    assert sent["writer"][0] == "BEGIN IMMEDIATE"  # the write lock, taken as it begins
{%- endif %}
{%- if cookiecutter.database == "postgresql" %}
    # An item is one SELECT, with no BEGIN or COMMIT (unless behind a transaction-mode pooler);
    # so is a page (no count unless asked).
    read = as_sent(["SELECT"], own_settings, read=True)
    assert [statement.split()[0] for statement in sent["reader"]] == read * 2
{%- else %}
    # An item is one SELECT, with no BEGIN or COMMIT; so is a page (no count unless asked).
    assert [statement.split()[0] for statement in sent["reader"]] == ["SELECT"] * 2
{%- endif %}


def test_every_endpoint_has_a_statement_budget(settings: Settings) -> None:
    paths = create_app(settings).openapi()["paths"]  # the app opens no database until it starts
    endpoints = {f"{method.upper()} {path}" for path in paths for method in paths[path]}

    assert endpoints == {endpoint.partition("?")[0] for endpoint in STATEMENT_BUDGETS}


@pytest.mark.parametrize("endpoint", STATEMENT_BUDGETS)
{{ async_ }}def test_each_endpoint_keeps_to_its_statement_budget(
    committing_client: {{ Client }},
    statements: Callable[[], dict[str, list[str]]],
    endpoint: str,
{%- if cookiecutter.database == "postgresql" %}
    own_settings: Settings,
{%- endif %}
) -> None:
    body, writes, reads = STATEMENT_BUDGETS[endpoint]
{%- if cookiecutter.database == "postgresql" %}
    writes = as_sent(writes, own_settings, read=False)
    reads = as_sent(reads, own_settings, read=True)
{%- endif %}
    method, path = endpoint.split(" ")
    made: dict[str, int] = {}
    for name, (at, made_by) in MADE_FIRST.items():
        for _ in range(2):
            made[name] = {{ "(await " if is_async }}committing_client.post(at, json=made_by){{ ")" if is_async }}.json()["id"]
    before = statements()

    response = {{ aw }}committing_client.request(method, path.format(**made), json=body)

    assert response.status_code < 300, response.text
    sent = {engine: after[len(before[engine]) :] for engine, after in statements().items()}
    kinds = {engine: [statement.split()[0] for statement in sent[engine]] for engine in sent}
    listed = "\n".join(f"  {engine}: {statement}" for engine in sent for statement in sent[engine])
    assert kinds == {"writer": writes, "reader": reads}, f"{endpoint} sent:\n{listed}"
