{%- set is_async = cookiecutter | session_style == "async" -%}
"""Whether the service is alive, and whether it is ready to serve.

`GET /health/live` answers as long as the process does, without touching the database: a
failure means the process should be restarted. `GET /health/ready` answers 200 only when the
database answers, within READY_TIMEOUT seconds, and its schema is at the head of the project's
migrations: a failure means requests should go elsewhere for now.
"""

import logging
from functools import lru_cache
from typing import cast

from alembic.config import Config
from alembic.script import ScriptDirectory
from alembic.util import CommandError
from anyio import fail_after{% if not is_async %}, to_thread{% endif %}
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from .. import dialect
from ..database import Database
from ..errors import error_responses, unavailable

logger = logging.getLogger(__name__)
READY_TIMEOUT = 2.0  # seconds
_REVISIONS = text("SELECT version_num FROM alembic_version")

router = APIRouter(prefix="/health", tags=["health"])


class Health(BaseModel):
    status: str


@router.get("/live")
async def liveness() -> Health:
    """Answer 200 while the process runs; the database plays no part."""
    return Health(status="ok")


@router.get("/ready", response_model=Health, responses=error_responses(503))
async def readiness(request: Request) -> Health | JSONResponse:
    """Answer 200 when the database answers and its schema is the one this code expects."""
    problem = await why_not_ready(cast(Database, request.app.state.database))
    return unavailable(problem) if problem else Health(status="ok")


@lru_cache
def expected_revisions() -> frozenset[str]:
    """The heads of the project's migrations, found as `alembic` finds them: through
    pyproject.toml in the working directory."""
    return frozenset(ScriptDirectory.from_config(Config(toml_file="pyproject.toml")).get_heads())


async def why_not_ready(database: Database) -> str | None:
    """Why the service cannot serve yet, or None if it can. What to do about it goes to the
    log."""
    try:
        with fail_after(READY_TIMEOUT):
            revisions = await _revisions(database)
    except TimeoutError:
        logger.error("The database did not answer within %s seconds", READY_TIMEOUT)
        return "The database did not answer in time"
    except DBAPIError as error:
        if error.connection_invalidated or dialect.is_unavailable(error):
            logger.error("Database unavailable: %s", error)
            return "The database is not available"
        revisions = set()  # no alembic_version table: no migration was ever applied
    try:
        expected = expected_revisions()
    except CommandError as error:
        logger.error("No migrations found (%s): serve from the project's directory", error)
        return "The service cannot find its migrations"
    if revisions != expected:
        logger.error(
            "The database schema is at %s, the code expects %s: run `alembic upgrade head`",
            ", ".join(sorted(revisions)) or "no revision",
            ", ".join(sorted(expected)),
        )
        return "The database schema is not the one this code expects"
    return None
{% if is_async %}

async def _revisions(database: Database) -> set[str]:
    async with database.read_session_factory() as session:
        return set(await session.scalars(_REVISIONS))
{%- else %}

async def _revisions(database: Database) -> set[str]:
    def read() -> set[str]:
        with database.read_session_factory() as session:
            return set(session.scalars(_REVISIONS))

    # Abandoned if it takes too long: the thread returns its connection when it is done.
    return await to_thread.run_sync(read, abandon_on_cancel=True)
{%- endif %}
