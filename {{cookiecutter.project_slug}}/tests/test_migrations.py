{%- set is_async = cookiecutter | session_style == "async" -%}
{%- set async_ = "async " if is_async else "" -%}
{%- set aw = "await " if is_async else "" -%}
"""The migrations build exactly the schema the models describe, and can be undone."""

from collections.abc import {{ "AsyncIterator, Callable" if is_async else "Callable, Iterator" }}
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from alembic.config import Config
from clients import client_for
from database_fixtures import MakeSettings
{%- if is_async %}
from sqlalchemy import inspect
from sqlalchemy.ext.asyncio import create_async_engine
{%- else %}
from sqlalchemy import create_engine, inspect
{%- endif %}

from {{ cookiecutter.package_name }}.main import create_app
from {{ cookiecutter.package_name }}.models import Base
from {{ cookiecutter.package_name }}.routes.health import migrations
from {{ cookiecutter.package_name }}.settings import get_settings


@pytest.fixture
{%- if is_async %}
async def database_url(
    make_settings: MakeSettings, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[str]:
{%- else %}
def database_url(make_settings: MakeSettings, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
{%- endif %}
    """A new database, named by DATABASE_URL as the `alembic` command would see it."""
    url = ({{ aw }}make_settings()).database_url
    monkeypatch.setenv("DATABASE_URL", url)
    get_settings.cache_clear()
    yield url
    get_settings.cache_clear()


{{ async_ }}def tables(url: str) -> set[str]:
{%- if is_async %}
    engine = create_async_engine(url)
    async with engine.connect() as connection:
        names = await connection.run_sync(lambda sync: inspect(sync).get_table_names())
    await engine.dispose()
    return set(names)
{%- else %}
    engine = create_engine(url)
    try:
        return set(inspect(engine).get_table_names())
    finally:
        engine.dispose()
{%- endif %}


{{ async_ }}def execute(url: str, statement: str) -> None:
{%- if is_async %}
    engine = create_async_engine(url)
    async with engine.begin() as connection:
        await connection.exec_driver_sql(statement)
    await engine.dispose()
{%- else %}
    engine = create_engine(url)
    with engine.begin() as connection:
        connection.exec_driver_sql(statement)
    engine.dispose()
{%- endif %}


{{ async_ }}def test_upgrade_check_downgrade_upgrade(database_url: str, alembic_config: Config) -> None:
{%- if is_async %}
    # Called from inside the test's running event loop, as an application's start-up would.
{%- endif %}
    config = alembic_config

    command.upgrade(config, "head")
    assert {{ aw }}tables(database_url) == {"alembic_version", *Base.metadata.tables}
    command.check(config)  # raises if the models and the migrations disagree

    command.downgrade(config, "base")
    assert {{ aw }}tables(database_url) == {"alembic_version"}

    command.upgrade(config, "head")
    command.check(config)


{{ async_ }}def test_the_migrations_build_the_schema_the_models_describe(
    database_url: str,
    alembic_config: Config,
    make_settings: MakeSettings,
    schema: Callable[[Any], dict[str, Any]],
) -> None:
    command.upgrade(alembic_config, "head")
{%- if is_async %}
    from_models = create_async_engine((await make_settings()).url)
    async with from_models.begin() as connection:
        await connection.run_sync(Base.metadata.create_all)
    from_migrations = create_async_engine(database_url)

    async with from_models.connect() as models, from_migrations.connect() as migrations:
        assert await migrations.run_sync(schema) == await models.run_sync(schema)
    await from_models.dispose()
    await from_migrations.dispose()
{%- else %}
    from_models = create_engine(make_settings().url)
    Base.metadata.create_all(from_models)
    from_migrations = create_engine(database_url)

    assert schema(from_migrations) == schema(from_models)
    from_models.dispose()
    from_migrations.dispose()
{%- endif %}


async def test_readiness_says_when_the_schema_is_missing_or_behind(
    database_url: str, alembic_config: Config, caplog: pytest.LogCaptureFixture
) -> None:
    app = create_app()  # on DATABASE_URL, as the service runs
    async with (
        app.router.lifespan_context(app),
        client_for(app) as client,
    ):
        # Said at start-up, and whenever readiness is asked: what is wrong, and what to run.
        assert "run `alembic upgrade head`" in caplog.text
        response = await client.get("/health/ready")
        assert response.status_code == 503
        assert response.json()["detail"].startswith("The database schema is behind this code")
        assert (await client.get("/health/live")).json() == {"status": "ok"}
        # A request that needs the missing table is a bug in the deployment, not an outage.
        assert (await client.get("/items")).status_code == 500

        command.upgrade(alembic_config, "head")
        assert (await client.get("/health/ready")).json() == {"status": "ok"}
        assert (await client.get("/items")).status_code == 200

        command.downgrade(alembic_config, "base")
        caplog.clear()
        assert (await client.get("/health/ready")).status_code == 503
        assert "is at no revision, behind this code" in caplog.text

        # Migrated by a newer version of the service, as a rolling deployment does first.
        {{ aw }}execute(database_url, "INSERT INTO alembic_version VALUES ('f00dfeedbeef')")
        caplog.clear()
        assert (await client.get("/health/ready")).json() == {"status": "ok"}
        assert "is at f00dfeedbeef, ahead of this code" in caplog.text


async def test_readiness_says_when_the_migrations_cannot_be_found(
    database_url: str,
    alembic_config: Config,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    command.upgrade(alembic_config, "head")
    monkeypatch.chdir(tmp_path)  # served from elsewhere than the project's directory
    migrations.cache_clear()
    app = create_app()
    try:
        async with (
            app.router.lifespan_context(app),
            client_for(app) as client,
        ):
            response = await client.get("/health/ready")
    finally:
        migrations.cache_clear()

    assert response.status_code == 503
    assert response.json()["detail"].startswith("The service cannot find its migrations")
    assert "serve from the project's directory" in caplog.text
