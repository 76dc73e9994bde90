"""The application: its routes, its error handlers, and the database it opens for its lifetime."""

import gc
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager, nullcontext

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi.routing import APIRoute

from . import {{ "auth, " if cookiecutter.auth == "oidc" }}metrics, shutdown{{ ", tracing" if cookiecutter.tracing == "opentelemetry" }}
{%- if cookiecutter | session_style == "sync" %}
from .cancellation import RoutesFinishFirst
{%- endif %}
from .database import Database, open_database
from .docs import install_docs
from .errors import install_error_handlers
from .logs import configure_logging
from .middleware import BodyLimit, RequestLog
{%- if cookiecutter.database == "postgresql" %}
from .retries import RetryConflicts
{%- endif %}
from .routes import health, items
from .settings import Settings, get_settings


@contextmanager
def tuned_garbage_collector() -> Iterator[None]:
    """Spend less of each request in Python's cycle collector while the service runs: freeze what
    start-up built (it lives as long as the process) and collect the youngest generation less
    often, as a request makes thousands of short-lived objects. TUNE_GC=false turns it off."""
    threshold = gc.get_threshold()
    gc.collect()
    gc.freeze()
    gc.set_threshold(10_000, *threshold[1:])
    try:
        yield
    finally:
        gc.set_threshold(*threshold)
        gc.unfreeze()


def operation_id(route: APIRoute) -> str:
    """An operation's id in the OpenAPI schema, and so the name of its function in a client
    generated from the schema: the route's own name (`create_item`), unique in this API."""
    return route.name


def create_app(settings: Settings | None = None, database: Database | None = None) -> FastAPI:
    """The application; it opens the database in `settings` unless given one (as tests do)."""
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        def stopping() -> None:
            app.state.stopping = True  # readiness fails from now on
{% if cookiecutter.auth == "oidc" %}
        auth.require_provider(settings)
{%- endif %}
        async with open_database(settings) as opened:
            app.state.database = opened
            await health.log_readiness(opened)
            with (
                shutdown.on_stop_signal(stopping),
                tuned_garbage_collector() if settings.tune_gc else nullcontext(),
            ):
                yield
        if settings.metrics_enabled:
            metrics.worker_stopped()

    app = FastAPI(
        title={{ cookiecutter.project_name | string_literal }},
        description={{ cookiecutter.description | string_literal }},
        lifespan=None if database else lifespan,
        generate_unique_id_function=operation_id,
        docs_url=None,  # FastAPI's own docs load their scripts from a CDN: see docs.py
        redoc_url=None,
{%- if cookiecutter.tracing == "opentelemetry" %}
        telemetry=tracing.TELEMETRY,
{%- endif %}
    )
    app.state.stopping = False
    app.state.require_if_match = settings.require_if_match
{%- if cookiecutter.auth == "oidc" %}
    app.state.authenticator = auth.Authenticator(settings)
{%- endif %}
    if database:
        app.state.database = database
    install_error_handlers(app)
{%- if cookiecutter | session_style == "sync" %}
    app.add_middleware(RoutesFinishFirst)
{%- endif %}
    if settings.metrics_enabled:
        app.include_router(metrics.router)
{%- if cookiecutter.database == "postgresql" %}
    if settings.transaction_retries:
        # Inside the body limit, which bounds the body it keeps for the next try.
        retries = settings.transaction_retries
        app.add_middleware(RetryConflicts, retries=retries, measured=settings.metrics_enabled)
{%- endif %}
    app.add_middleware(BodyLimit, max_size=settings.max_body_size)
    # It sees every request, and every error.
    app.add_middleware(RequestLog, measured=settings.metrics_enabled)
    if settings.cors_origins:
        # Outside the log, so that even its 500 of last resort can be read by a browser page.
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
            # With Accept and Content-Type, which Starlette allows of itself.
            allow_headers=[
                "Authorization",
                "X-Request-ID",
                "If-Match",
                "If-None-Match",
{%- if cookiecutter.tracing == "opentelemetry" %}
                "traceparent",
                "tracestate",
{%- endif %}
            ],
            # Headers a page may read: a browser hides any other, the next page's Link too.
            expose_headers=["ETag", "Link", "X-Request-ID"],
            max_age=600,  # seconds a browser may reuse a preflight's answer
        )
    app.include_router(items.router)
    app.include_router(health.router)
{%- if cookiecutter.auth == "oidc" %}
    if settings.oidc_docs_client_id:
        auth.document_sign_in(app, settings)
    install_docs(app, settings)
{%- else %}
    install_docs(app)
{%- endif %}
    return app


# The served app. Logging is set up as it is imported: uvicorn's lines from here on are the
# service's too.
configure_logging(get_settings())
{%- if cookiecutter.tracing == "opentelemetry" %}
tracing.configure_tracing()
{%- endif %}
app = create_app()
