"""Jinja filters that put answers into generated files as data, never as code, and record
where a project came from.

Cookiecutter loads this module from the template's root (see `_extensions` in cookiecutter.json).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from cookiecutter.config import BUILTIN_ABBREVIATIONS
from cookiecutter.repository import expand_abbreviations, is_repo_url
from jinja2 import Environment
from jinja2.ext import Extension

# Context that cookiecutter adds about where it ran, not what was answered, and the prompts'
# texts: neither is recorded with the answers.
NOT_RECORDED = frozenset({"_output_dir", "_repo_dir", "_checkout", "__prompts__"})
# Where cookiecutter was started: a template given as a relative path is relative to it
# (while it renders files, cookiecutter works in the template's directory).
STARTED_IN = Path.cwd()


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


def git_commit(repository: Path) -> str | None:
    """The commit checked out in a git repository, read from its files (no git command runs
    while a project is made); None if `repository` is not one, or its HEAD cannot be read."""
    git = repository / ".git"
    try:
        if git.is_file():  # a worktree or a submodule: "gitdir: <path>"
            git = (repository / git.read_text().partition("gitdir:")[2].strip()).resolve()
        head = (git / "HEAD").read_text().strip()
        if not head.startswith("ref: "):
            return head  # detached, as after a checkout of a tag
        ref = head.removeprefix("ref: ")
        # A worktree keeps the branches in the repository's common directory.
        commondir = git / "commondir"
        common = git / commondir.read_text().strip() if commondir.is_file() else git
        for base in dict.fromkeys([git, common]):
            if (base / ref).is_file():
                return (base / ref).read_text().strip()
        for line in (common / "packed-refs").read_text().splitlines():
            commit, _, name = line.partition(" ")
            if name == ref:
                return commit
    except OSError:
        pass
    return None


def cruft_state(context: Mapping[str, Any]) -> str:
    """What `.cruft.json` records, in cruft's own format: where the template came from, its
    commit, and the answers, so that `cruft check` and `cruft update` work on the project.

    `cruft create` writes the same file itself, from the template's URL and the commit it
    cloned (which it also puts in the context). Plain `cookiecutter` gives the template as the
    user typed it: an abbreviation (gh:owner/repo) is expanded to its URL, a directory made
    absolute, a `git+` prefix dropped, and the commit read from the clone cookiecutter made, or
    from the directory."""
    context = with_session_style(context)
    if "_commit" in context:  # made by cruft, which writes the checkout itself
        template, commit, checkout = context["_template"], context["_commit"], None
    else:
        given = str(context["_template"])
        template = expand_abbreviations(given, BUILTIN_ABBREVIATIONS)
        cloned = is_repo_url(template)
        if not cloned:
            template = str((STARTED_IN / given).resolve())
        # cookiecutter's "git+" names the tool to clone with; git itself takes the URL after it.
        template = template.removeprefix("git+")
        commit = git_commit(STARTED_IN / context["_repo_dir"])
        # cookiecutter checks out only what it clones: a directory is used as it is.
        checkout = context.get("_checkout") if cloned else None
    answers = {key: value for key, value in context.items() if key not in NOT_RECORDED}
    state = {
        "template": template,
        "commit": commit,
        "checkout": checkout,
        "context": {"cookiecutter": answers | {"_template": template, "_commit": commit}},
        "directory": None,
    }
    return json.dumps(state, ensure_ascii=False, indent=2, separators=(",", ": "))


class AnswerFilters(Extension):
    def __init__(self, environment: Environment) -> None:
        super().__init__(environment)
        environment.filters["string_literal"] = string_literal
        environment.filters["cruft_state"] = cruft_state
        environment.filters["session_style"] = session_style
        environment.filters["with_session_style"] = with_session_style
        # `cruft update` renders the project's commit of the template and then the newest one,
        # in one process, from one directory: without this, the second render would get this
        # module, cached, and not the newest one's filters. (Python rereads the file unless
        # its compiled copy has the same size and modification second.)
        sys.modules.pop(__name__, None)
