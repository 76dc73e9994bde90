"""What PostgreSQL needs of the engines, of each connection they open, and of the columns."""

from typing import Any

from sqlalchemy import DateTime, Engine, Index, MetaData, event
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError
from sqlalchemy.schema import ColumnCollectionConstraint

from .settings import Settings

# A point in time: PostgreSQL keeps its time zone, and reads it back aware.
Timestamp = DateTime(timezone=True)


def engine_options(settings: Settings, *, read_only: bool) -> dict[str, Any]:
    """Keyword arguments for the engine: its pool, its timeouts, its isolation level.

    A read-only engine's connections run each statement as a transaction of its own
    (autocommit): a read of one statement costs one round trip, with no BEGIN and no COMMIT
    around it, and with no transaction there is nothing to roll back when a session ends or
    its connection goes back to the pool.
    """
    return {
        "connect_args": {"{{ 'timeout' if cookiecutter | session_style == 'async' else 'connect_timeout' }}": settings.connect_timeout},
        "isolation_level": "AUTOCOMMIT" if read_only else "READ COMMITTED",
        "skip_autocommit_rollback": read_only,
        "pool_size": settings.pool_size,
        "max_overflow": settings.max_overflow,
        "pool_timeout": settings.pool_timeout,
        "pool_pre_ping": settings.pool_pre_ping,
    }


def prepare(engine: Engine, *, read_only: bool) -> None:
    """Set up each connection that `engine` opens: the server refuses a read-only engine's
    connections any write."""
{%- if cookiecutter | session_style == "async" %}

    @event.listens_for(engine, "do_connect")
    def _connect(dialect: Any, _record: Any, cargs: Any, cparams: Any) -> Any:
        # asyncpg raises its socket's error as it is when it cannot connect (refused, timed
        # out): report it as the driver's own error, as every other driver does.
        try:
            return dialect.connect(*cargs, **cparams)
        except OSError as error:
            raise dialect.loaded_dbapi.OperationalError(str(error)) from error
{%- endif %}

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


# SQLSTATE codes of a server that cannot serve: class 08, connection exceptions; class 53, too
# many connections or no resources left; a query cancelled (by the statement timeout that the
# readiness check sets, say); a server shutting down or starting.
_UNAVAILABLE = ("08", "53", "57014", "57P01", "57P02", "57P03")


def is_unavailable(error: DBAPIError) -> bool:
    """Whether the server cannot be reached: the driver could not connect, or the server
    refused the connection or ended it. Any other error (a table that does not exist, a write
    in a read-only transaction) is a bug, not an outage."""
    sqlstate = getattr(error.orig, "sqlstate", None)
    if sqlstate is None:  # the driver's own error: it has no connection to the server
        return isinstance(error, OperationalError)
    return bool(sqlstate.startswith(_UNAVAILABLE))


def is_missing_table(error: DBAPIError) -> bool:
    return getattr(error.orig, "sqlstate", None) == "42P01"  # undefined_table


def unique_violation(error: IntegrityError, metadata: MetaData) -> list[str]:
    """The columns whose values another row already holds, if `error` is a unique violation:
    those of the constraint it names (the message's text may be in the server's language)."""
    if getattr(error.orig, "sqlstate", None) != "23505":
        return []
{%- if cookiecutter | session_style == "async" %}
    name = getattr(getattr(error.orig, "__cause__", None), "constraint_name", None)  # asyncpg's
{%- else %}
    name = error.orig.diag.constraint_name  # type: ignore[union-attr]
{%- endif %}
    for table in metadata.tables.values():
        unique: list[ColumnCollectionConstraint | Index] = [*table.indexes]
        unique += [c for c in table.constraints if isinstance(c, ColumnCollectionConstraint)]
        for constraint in unique:
            if constraint.name == name:
                return [column.name for column in constraint.columns]
    return []
