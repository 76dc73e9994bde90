{%- set is_async = cookiecutter | session_style == "async" -%}
{%- set aw = "await " if is_async else "" -%}
"""Whether the service is alive (the process answers) and ready to serve (the database answers,
its schema is at the migrations' head, and the service is not stopping): see "Health" in
docs/operations.md."""

import logging
{%- if cookiecutter.database == "postgresql" %}
from contextlib import suppress
{%- endif %}
from functools import lru_cache

from alembic.config import Config
from alembic.script import ScriptDirectory
from alembic.util import CommandError
{%- if not is_async %}
from anyio import to_thread
{%- endif %}
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError{% if cookiecutter.database == "postgresql" %}, PendingRollbackError{% endif %}
{%- if is_async %}
from sqlalchemy.ext.asyncio import AsyncSession
{%- else %}
from sqlalchemy.orm import Session
{%- endif %}

from .. import dialect
from ..database import Database, ReadSessionDep
from ..errors import error_responses, unavailable

logger = logging.getLogger(__name__)
_REVISIONS = text("SELECT version_num FROM alembic_version")
_TO_UPGRADE = "run `alembic upgrade head`"
{%- if cookiecutter.database == "postgresql" %}
READY_TIMEOUT = 2.0  # seconds
# The server gives up on the query after READY_TIMEOUT (when a migration holds a lock on the
# table, say), so that no query is left waiting; the setting is the connection's, and undone.
_UNBOUNDED = text("RESET statement_timeout")
{%- endif %}

router = APIRouter(prefix="/health", tags=["health"])


class Health(BaseModel):
    status: str


@router.get("/live")
async def liveness() -> Health:
    """Answer 200 while the process runs; the database plays no part."""
    return Health(status="ok")


@router.get("/ready", response_model=Health, responses=error_responses(503))
{{ "async " if is_async }}def readiness(request: Request, session: ReadSessionDep) -> Health | JSONResponse:
    """Answer 200 when the database answers and its schema is one this code can work with, and
    the service is not stopping."""
    if request.app.state.stopping:
        return unavailable("The service is stopping")
    problem = {{ aw }}why_not_ready(session)
    return unavailable(problem) if problem else Health(status="ok")


async def log_readiness(database: Database) -> None:
    """Say in the log, as the service starts, what keeps it from being ready."""
{%- if is_async %}
    async with database.read_session_factory() as session:
        await why_not_ready(session)
{%- else %}

    def check() -> None:
        with database.read_session_factory() as session:
            why_not_ready(session)

    await to_thread.run_sync(check)
{%- endif %}


@lru_cache
def migrations() -> tuple[frozenset[str], frozenset[str]]:
    """The heads of the project's migrations, and every revision they know of, found as
    `alembic` finds them: through pyproject.toml in the working directory."""
    script = ScriptDirectory.from_config(Config(toml_file="pyproject.toml"))
    known = frozenset(revision.revision for revision in script.walk_revisions())
    return frozenset(script.get_heads()), known


{{ "async " if is_async }}def why_not_ready(session: {{ "AsyncSession" if is_async else "Session" }}) -> str | None:
    """Why the service cannot serve yet, or None if it can. What to do about it goes to the
    log."""
    try:
        revisions = {{ aw }}_revisions(session)
    except DBAPIError as error:
        if error.connection_invalidated or dialect.is_unavailable(error):
            logger.error("Database unavailable: %s", error)
            return "The database is not available"
        if not dialect.is_missing_table(error):
            logger.error("The database refused the readiness check: %s", error)
            return "The database refused the readiness check"
        revisions = set()  # no alembic_version table: no migration was ever applied
    try:
        heads, known = migrations()
    except CommandError as error:
        logger.error("No migrations found (%s): serve from the project's directory", error)
        return "The service cannot find its migrations"
    if revisions == heads:
        return None
    shown = ", ".join(sorted(revisions)) or "no revision"
    if revisions - known:  # a newer version of the service migrated first, as it should
        logger.warning("The database schema is at %s, ahead of this code: serving", shown)
        return None
    logger.error("The database schema is at %s, behind this code: %s", shown, _TO_UPGRADE)
    return "The database schema is behind this code"


{{ "async " if is_async }}def _revisions(session: {{ "AsyncSession" if is_async else "Session" }}) -> set[str]:
{%- if cookiecutter.database == "postgresql" %}
    {{ aw }}session.execute(text(f"SET statement_timeout = {round(READY_TIMEOUT * 1000)}"))
    try:
        return set({{ aw }}session.scalars(_REVISIONS))
    finally:
        # The pooled connection must not keep the limit. If the query failed, its error is the
        # one to report (503, not 500), and the limit went with the connection that dropped or
        # with the aborted transaction (behind a pooler), when it is rolled back.
        with suppress(PendingRollbackError, DBAPIError):
            {{ aw }}session.execute(_UNBOUNDED)
{%- else %}
    return set({{ aw }}session.scalars(_REVISIONS))
{%- endif %}
