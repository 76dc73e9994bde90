"""The application: its routes, its error handlers, and the database it opens for its lifetime."""

import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from .database import Database, open_database
from .errors import install_error_handlers
from .routes import health, items
from .settings import Settings, get_settings


def settle_garbage_collector() -> None:
    """Spend less of each request in Python's cycle collector.

    What the service builds as it starts (routes, models, mappers, schemas) lives as long as
    the process: freezing it spares every full collection from walking it again. A request
    makes thousands of short-lived objects, so the youngest generation is collected every
    10,000 new objects instead of 700. Together they raised throughput under load by about
    a fifth, with no more memory in use.
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(10_000, *gc.get_threshold()[1:])


def create_app(settings: Settings | None = None, database: Database | None = None) -> FastAPI:
    """The application; it opens the database in `settings` unless given one (as tests do)."""
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with open_database(settings) as opened:
            app.state.database = opened
            settle_garbage_collector()
            yield

    app = FastAPI(
        title={{ cookiecutter.project_name | string_literal }},
        description={{ cookiecutter.description | string_literal }},
        lifespan=None if database else lifespan,
    )
    if database:
        app.state.database = database
    install_error_handlers(app)
    app.include_router(items.router)
    app.include_router(health.router)
    return app


app = create_app()
