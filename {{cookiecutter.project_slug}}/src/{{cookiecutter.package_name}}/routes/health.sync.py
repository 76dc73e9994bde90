"""Whether the service and its database answer."""

from fastapi import APIRouter
from sqlalchemy import text

from ..database import ReadSessionDep
from ..errors import error_responses

router = APIRouter(tags=["health"])


@router.get("/health", responses=error_responses(503))
def health(session: ReadSessionDep) -> dict[str, str]:
    """Answer 200 when the database answers a query, 503 when it does not."""
    session.execute(text("SELECT 1"))
    return {"status": "ok", "database": "ok"}
