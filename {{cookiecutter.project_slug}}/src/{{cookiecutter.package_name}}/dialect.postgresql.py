"""What PostgreSQL needs of the engines, of each connection they open, and of the columns."""
{% if cookiecutter | session_style == "sync" %}
import weakref
from contextlib import suppress
{%- endif %}
from math import ceil
from typing import Any
{% if cookiecutter | session_style == "sync" %}
import psycopg
{%- endif %}
from sqlalchemy import Connection, DateTime, Engine, Index, MetaData, event
from sqlalchemy.engine import ExceptionContext
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError
from sqlalchemy.schema import ColumnCollectionConstraint

from .settings import Settings

# A point in time: PostgreSQL keeps its time zone, and reads it back aware.
Timestamp = DateTime(timezone=True)


def engine_options(settings: Settings, *, read_only: bool) -> dict[str, Any]:
    """Keyword arguments for the engine: its pool, its timeouts, its isolation level
    (ISOLATION_LEVEL's for writes). A read-only engine runs each statement in autocommit (one
    round trip, nothing to roll back), or behind a transaction-mode pooler in BEGIN READ ONLY
    (docs/scaling.md says why)."""
    pooled = settings.database_pooler == "transaction"
    autocommit = read_only and not pooled
    isolation = "READ COMMITTED" if read_only else settings.isolation_level.replace("_", " ")
    options = {
        "connect_args": connect_args(settings),
        "isolation_level": "AUTOCOMMIT" if autocommit else isolation.upper(),
        "skip_autocommit_rollback": autocommit,
        "pool_size": settings.pool_size,
        "max_overflow": settings.max_overflow,
        "pool_timeout": settings.pool_timeout,
        "pool_pre_ping": settings.pool_pre_ping,
    }
    if read_only and pooled:
        options["execution_options"] = {"postgresql_readonly": True}
    return options


def connect_args(settings: Settings) -> dict[str, Any]:
    """What the driver needs to connect: a timeout, and the server's limits on waits; behind a
    transaction-mode pooler, no named prepared statement, which would stay on a server
    connection that the next transaction may not get, and no limits, which `prepare` sets for
    each transaction."""
{%- if cookiecutter | session_style == "async" %}
    options: dict[str, Any] = {"timeout": settings.connect_timeout}
    if settings.database_pooler == "none":
        options["server_settings"] = limits(settings)
    else:
        # asyncpg then sends each statement's text with its parameters, in one message with
        # them (an unnamed statement); SQLAlchemy keeps no prepared statement of its own.
        options |= {"statement_cache_size": 0, "prepared_statement_cache_size": 0}
        options["prepared_statement_name_func"] = lambda: ""
        # asyncpg asks for client_encoding 'utf-8', spelled so; the pooler's server connections
        # have it spelled UTF8, and PgBouncer would send a SET before every transaction to
        # give one the client's spelling.
        options["server_settings"] = {"client_encoding": "UTF8"}
    return options
{%- else %}
    options: dict[str, Any] = {"connect_timeout": settings.connect_timeout}
    if settings.database_pooler == "none" and limits(settings):
        options["options"] = " ".join(f"-c {name}={ms}" for name, ms in limits(settings).items())
    elif settings.database_pooler == "transaction":
        # psycopg prepares a statement it has run five times on a connection, by default.
        options["prepare_threshold"] = None
    return options
{%- endif %}


def limits(settings: Settings) -> dict[str, str]:
    """The server's limits on waits, as PostgreSQL's settings, in milliseconds; none for a limit
    of 0, which leaves the server's own setting (none, unless the role or the database has one)."""
    seconds = {
        "statement_timeout": settings.statement_timeout,
        "lock_timeout": settings.lock_timeout,
        "idle_in_transaction_session_timeout": settings.idle_in_transaction_timeout,
    }
    return {name: str(ceil(value * 1000)) for name, value in seconds.items() if value}


def prepare(engine: Engine, settings: Settings, *, read_only: bool) -> None:
    """Set up each connection that `engine` opens: the server refuses a read-only engine's
    connections any write. Behind a transaction-mode pooler, each transaction sets the limits
    on waits for itself."""
{%- if cookiecutter | session_style == "async" %}

    @event.listens_for(engine, "do_connect")
    def _connect(dialect: Any, _record: Any, cargs: Any, cparams: Any) -> Any:
        # asyncpg raises its socket's error as it is when it cannot connect (refused, timed
        # out): report it as the driver's own error, as every other driver does.
        try:
            return dialect.connect(*cargs, **cparams)
        except OSError as error:
            raise dialect.loaded_dbapi.OperationalError(str(error)) from error
{%- else %}

    opened = _opened.setdefault(engine, weakref.WeakSet())

    @event.listens_for(engine, "connect")
    def _remember(dbapi_connection: Any, _record: Any) -> None:
        opened.add(dbapi_connection)
{%- endif %}

    if not settings.log_sql:
        # The server's DETAIL may quote the row that broke a constraint: what a client sent,
        # kept out of errors and the log as the statement's parameters are (hide_parameters),
        # unless LOG_SQL asks for them.
        @event.listens_for(engine, "handle_error")
        def _without_values(context: ExceptionContext) -> None:
{%- if cookiecutter | session_style == "async" %}
            server_error: Any = context.original_exception.__cause__  # asyncpg's, printed with it
            if getattr(server_error, "detail", None):
                server_error.detail = None
{%- else %}
            diagnosis = getattr(context.original_exception, "diag", None)
            if detail := getattr(diagnosis, "message_detail", None):  # at the end of the message
                for error in (context.original_exception, context.sqlalchemy_exception):
                    if error is not None and error.args and isinstance(error.args[0], str):
                        error.args = (error.args[0].replace(f"\nDETAIL:  {detail}", ""),)
{%- endif %}

    if settings.database_pooler == "transaction" and limits(settings):
        # The pooler hands each transaction a server connection of its choosing, and forwards
        # no setting sent as a connection starts: the limits last as long as the transaction.
        configs = [f"set_config('{name}', '{ms}', true)" for name, ms in limits(settings).items()]
        set_limits = f"SELECT {', '.join(configs)}"

        @event.listens_for(engine, "begin")
        def _limit(connection: Connection) -> None:
            connection.exec_driver_sql(set_limits)

    # Behind a pooler, the engine begins each transaction read-only (see engine_options).
    if not read_only or engine.get_execution_options().get("postgresql_readonly"):
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
{%- if cookiecutter | session_style == "sync" %}


# The connections each engine has open, for `interrupt`.
_opened: weakref.WeakKeyDictionary[Engine, weakref.WeakSet[Any]] = weakref.WeakKeyDictionary()


def interrupt(*engines: Engine) -> None:
    """Ask the server to cancel the statement each connection of `engines` is running, if any
    (it is in a route's thread, and may wait for a lock as long as another transaction holds
    it): the statement fails, and its transaction is rolled back."""
    for engine in engines:
        for connection in list(_opened.get(engine, ())):
            with suppress(psycopg.Error):  # the server cannot be reached: nothing runs there
                connection.cancel_safe(timeout=1)
{%- endif %}


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


# What the server could not do now, though it answered, by SQLSTATE: what happened, and whether
# it is a conflict with a concurrent transaction (a 409) or a limit that ran out (a 503).
_TRANSIENT = {
    "25P03": ("The database ended a transaction left idle", False),  # idle_in_transaction_...
    "40001": ("A concurrent transaction changed the same data", True),  # serialization_failure
    "40P01": ("A concurrent transaction deadlocked with this one", True),  # deadlock_detected
    "55P03": ("The data is locked by another transaction", False),  # lock_not_available
    "57014": ("The database took too long to answer", False),  # query_canceled
}


def transient_failure(error: DBAPIError) -> tuple[str, str, bool] | None:
    """If another try may succeed where `error` failed: its SQLSTATE, what happened, and
    whether it was a conflict with a concurrent transaction rather than a wait that ran out."""
    sqlstate = getattr(error.orig, "sqlstate", None)
    if sqlstate not in _TRANSIENT:
        return None
    detail, conflict = _TRANSIENT[sqlstate]
    return f"SQLSTATE {sqlstate}", detail, conflict


def is_missing_table(error: DBAPIError) -> bool:
    return getattr(error.orig, "sqlstate", None) == "42P01"  # undefined_table


def unique_violation(error: IntegrityError, metadata: MetaData) -> tuple[str, list[str]] | None:
    """The table, and the columns whose values another of its rows already holds, if `error` is a
    unique violation: those of the constraint it names (the message may be in another language)."""
    if getattr(error.orig, "sqlstate", None) != "23505":
        return None
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
                return table.name, [column.name for column in constraint.columns]
    return None
