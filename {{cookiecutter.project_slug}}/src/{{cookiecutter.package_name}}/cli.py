{%- set is_async = cookiecutter | session_style == "async" -%}
{%- set async_ = "async " if is_async else "" -%}
{%- set aw = "await " if is_async else "" -%}
"""The command line (`{{ cookiecutter.project_slug }} seed --count 1000`): work on the database
outside a request. Each batch is a unit of work of its own (`Database.unit_of_work`), so a
failure loses only the batch it happened in."""

import argparse
{%- if is_async %}
import asyncio
{%- endif %}
import re
import sys
import time
from collections.abc import Sequence

from pydantic import ValidationError
from sqlalchemy.exc import DBAPIError

from . import repository
from .database import create_db_engine, database_for
from .logs import configure_logging
from .schemas import ItemCreate
from .settings import Settings, get_settings

BATCH = 1_000  # items per transaction, unless --batch says otherwise
# At most this many per transaction: a larger one holds SQLite's write lock for seconds, so that
# the service's writes time out, and its items take hundreds of megabytes to build.
MAX_BATCH = 100_000


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog={{ cookiecutter.project_slug | string_literal }},
        description="Work on the database outside a request.",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    seed = commands.add_parser("seed", help="create demo items, in batches of their own")
    seed.add_argument("--count", type=positive, required=True, help="how many items to create")
    seed.add_argument(
        "--batch",
        type=batch_size,
        default=BATCH,
        help=f"items per transaction (default {BATCH:,}, at most {MAX_BATCH:,})",
    )
{%- if cookiecutter.auth == "oidc" %}
    seed.add_argument(
        "--owner", required=True, help="whose items they are: the subject (sub) of their tokens"
    )
{%- endif %}
    arguments = parser.parse_args(argv)
    try:
        settings = get_settings()
    except ValidationError as error:  # DATABASE_URL, or another setting, that cannot be used
        print(f"error: {error}", file=sys.stderr)
        return 1
    configure_logging(settings)
    try:
{%- if cookiecutter.auth == "oidc" %}
        seeding = seed_items(settings, arguments.count, arguments.batch, arguments.owner)
{%- else %}
        seeding = seed_items(settings, arguments.count, arguments.batch)
{%- endif %}
        return {{ "asyncio.run(seeding)" if is_async else "seeding" }}
    except KeyboardInterrupt:
        return 130


def positive(text: str) -> int:
    if not re.fullmatch(r"[0-9]+(?:[,_][0-9]{3})*", text):
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number")
    number = int(text.replace(",", "").replace("_", ""))
    if number < 1:
        raise argparse.ArgumentTypeError(f"{number} is not a positive number")
    return number


def batch_size(text: str) -> int:
    number = positive(text)
    if number > MAX_BATCH:
        raise argparse.ArgumentTypeError(f"{number:,} is more than {MAX_BATCH:,}")
    return number


{% if cookiecutter.auth == "oidc" -%}
{{ async_ }}def seed_items(settings: Settings, count: int, batch: int, owner: str) -> int:
    """Create `count` items of `owner`'s in transactions of `batch`, showing progress on a
    terminal; the exit status: 0 if every item was created."""
{%- else -%}
{{ async_ }}def seed_items(settings: Settings, count: int, batch: int) -> int:
    """Create `count` items in transactions of `batch`, showing progress on a terminal; the
    exit status: 0 if every item was created."""
{%- endif %}
    engine = create_db_engine(settings)
{%- if cookiecutter.database == "sqlite" %}
    # A command that only writes: one engine will do.
    database = database_for(engine, engine, busy_timeout=settings.busy_timeout)
{%- else %}
    database = database_for(engine, engine)  # a command that only writes: one engine will do
{%- endif %}
    started, written = time.perf_counter(), 0
    try:
        while written < count:
            items = [
                ItemCreate(title=f"Demo item {written + n}", description="Created by seed")
                for n in range(1, min(batch, count - written) + 1)
            ]
            {{ async_ }}with database.unit_of_work() as session:
                {{ aw }}repository.create_items(session, items{{ ", owner=owner" if cookiecutter.auth == "oidc" }})
            written += len(items)
            if sys.stderr.isatty():  # progress, on a terminal only
                rate = written / (time.perf_counter() - started)
                shown = f"\r{written:,} of {count:,} items ({rate:,.0f} a second)"
                print(shown, end="", file=sys.stderr, flush=True)
    except DBAPIError as error:  # the database's own message: a missing table, a full disk
        print(f"\nerror: {error.orig or type(error.orig).__name__}", file=sys.stderr)
        print(f"Created {written:,} of {count:,} items; the batch that failed was rolled back.")
        return 1
    except {{ "asyncio.CancelledError" if is_async else "KeyboardInterrupt" }}:  # Ctrl-C
        print(f"\nInterrupted: created {written:,} of {count:,} items; the batch in progress")
        print("was rolled back.")
        raise
    finally:
        {{ aw }}engine.dispose()
    seconds = time.perf_counter() - started
    if sys.stderr.isatty():
        print(file=sys.stderr)
    batches = -(-count // batch)
    print(
        f"Created {count:,} items in {seconds:.1f} s ({count / seconds:,.0f} a second),"
        f" in {batches:,} transaction{'s' if batches > 1 else ''}"
    )
    return 0
