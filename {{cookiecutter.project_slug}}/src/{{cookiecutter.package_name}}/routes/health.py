{%- set is_async = cookiecutter | session_style == "async" -%}
{%- set async_ = "async " if is_async else "" -%}
{%- set aw = "await " if is_async else "" -%}
"""Whether the service and its database answer."""

from fastapi import APIRouter
from sqlalchemy import text

from ..database import ReadSessionDep
from ..errors import error_responses

router = APIRouter(tags=["health"])


@router.get("/health", responses=error_responses(503))
{{ async_ }}def health(session: ReadSessionDep) -> dict[str, str]:
    """Answer 200 when the database answers a query, 503 when it does not."""
    {{ aw }}session.execute(text("SELECT 1"))
    return {"status": "ok", "database": "ok"}
