"""Jinja filters that put answers into generated files as data, never as code.

Cookiecutter loads this module from the template's root (see `_extensions` in cookiecutter.json).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from jinja2 import Environment
from jinja2.ext import Extension

# Context that cookiecutter adds about where it ran, not what was answered.
MACHINE_SPECIFIC = frozenset({"_output_dir", "_repo_dir", "_checkout"})
# What the template itself says, not the answers: a replay takes these from the template it
# runs, so that it is never held to an older template's list of combinations.
TEMPLATE_CONSTANTS = frozenset({"_supported_combinations", "_session_for_database"})


def string_literal(value: str) -> str:
    """Quote `value` as a string literal that means the same in Python and in TOML.

    JSON's escapes (`\\"`, `\\\\`, `\\n`, `\\uXXXX`) are valid in both languages; DEL is escaped
    too, because TOML forbids it raw. Other text, non-ASCII included, stays as it is.
    """
    return json.dumps(value, ensure_ascii=False).replace("\x7f", "\\u007f")


def session_style(context: Mapping[str, Any]) -> str:
    """The session style answered; for answers recorded before the question was asked, whose
    replay cannot see the database while it prompts, the one that follows the database."""
    usual: dict[str, str] = context["_session_for_database"]
    # A database the template does not offer has no usual style: the pre-generation hook
    # reports the database, rather than this filter failing while the hook is rendered.
    return context.get("session") or usual.get(context["database"], "")


def with_session_style(context: Mapping[str, Any]) -> dict[str, Any]:
    """The answers, with the session style settled."""
    return {**context, "session": session_style(context)}


def replay_file(context: Mapping[str, Any]) -> str:
    """The answers, as a cookiecutter replay file: `cookiecutter --replay-file` reads it."""
    answers = {
        key: value
        for key, value in with_session_style(context).items()
        if key not in MACHINE_SPECIFIC | TEMPLATE_CONSTANTS
    }
    return json.dumps({"cookiecutter": answers}, indent=2, ensure_ascii=False)


class AnswerFilters(Extension):
    def __init__(self, environment: Environment) -> None:
        super().__init__(environment)
        environment.filters["string_literal"] = string_literal
        environment.filters["replay_file"] = replay_file
        environment.filters["session_style"] = session_style
        environment.filters["with_session_style"] = with_session_style
