"""What PostgreSQL needs of the engines, of each connection they open, and of the columns."""

from typing import Any

from sqlalchemy import DateTime, Engine, event

from .settings import Settings

# A point in time: PostgreSQL keeps its time zone, and reads it back aware.
Timestamp = DateTime(timezone=True)


def engine_options(settings: Settings, *, read_only: bool) -> dict[str, Any]:
    """Keyword arguments for the engine: its pool, its timeouts, its isolation level.

    A read-only engine's connections run each statement as a transaction of its own
    (autocommit): a read of one statement costs one round trip, with no BEGIN and no COMMIT
    around it.
    """
    return {
        "connect_args": {"{{ 'timeout' if cookiecutter | session_style == 'async' else 'connect_timeout' }}": settings.connect_timeout},
        "isolation_level": "AUTOCOMMIT" if read_only else "READ COMMITTED",
        "pool_size": settings.pool_size,
        "max_overflow": settings.max_overflow,
        "pool_timeout": settings.pool_timeout,
        "pool_pre_ping": settings.pool_pre_ping,
    }


def prepare(engine: Engine, *, read_only: bool) -> None:
    """Set up each connection that `engine` opens: the server refuses a read-only engine's
    connections any write."""
    if not read_only:
        return

    @event.listens_for(engine, "connect", insert=True)
    def _read_only(dbapi_connection: Any, _record: Any) -> None:
        # Outside any transaction, so that the setting lasts as long as the connection.
        autocommit = dbapi_connection.autocommit
        dbapi_connection.autocommit = True
        cursor = dbapi_connection.cursor()
        cursor.execute("SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY")
        cursor.close()
        dbapi_connection.autocommit = autocommit
