"""The application: its routes, its error handlers, and the database it opens for its lifetime."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI

from .database import open_database
from .errors import install_error_handlers
from .routes import health, items
from .settings import Settings, get_settings


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[dict[str, Any]]:
        async with open_database(settings) as sessionmaker:
            yield {"sessionmaker": sessionmaker}

    app = FastAPI(
        title={{ cookiecutter.project_name | string_literal }},
        description={{ cookiecutter.description | string_literal }},
        lifespan=lifespan,
    )
    install_error_handlers(app)
    app.include_router(items.router)
    app.include_router(health.router)
    return app


app = create_app()
