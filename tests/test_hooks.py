"""The hooks, imported as the plain Python they are before rendering, and tested as functions."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from .baking import (
    COMBINATIONS,
    COOKIECUTTER_JSON,
    PROJECT_TEMPLATE,
    VARIANTS,
    full_context,
    load_hook,
)

pre_gen = load_hook("pre_gen_project")
post_gen = load_hook("post_gen_project")


def answers(**changes: str) -> dict[str, Any]:
    return full_context({}) | changes


def test_the_default_answers_are_accepted() -> None:
    assert pre_gen.check_answers(answers()) == []


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"project_slug": "My Project!"}, "project_slug 'My Project!' is not valid"),
        ({"project_slug": "1st-service"}, "project_slug '1st-service' is not valid"),
        ({"project_slug": "trailing-"}, "project_slug 'trailing-' is not valid"),
        ({"package_name": "class"}, "package_name 'class' is a Python keyword"),
        ({"package_name": "1abc"}, "package_name '1abc' is not valid"),
        ({"package_name": "my-service"}, "package_name 'my-service' is not valid"),
        ({"package_name": "typing"}, "package_name 'typing' would shadow"),
        ({"package_name": "fastapi"}, "package_name 'fastapi' would shadow"),
        ({"project_name": "  "}, "project_name is empty"),
        ({"description": "two\nlines"}, "description 'two\\nlines' has a line break"),
        ({"author_email": "nobody"}, "author_email 'nobody' is not valid"),
        ({"session": "threads"}, "session 'threads' is not valid: use one of sync, async"),
        ({"database": "mysql"}, "database 'mysql' is not valid: use one of sqlite, postgresql"),
    ],
)
def test_a_bad_answer_is_named_with_what_would_be_accepted(
    changes: dict[str, str], message: str
) -> None:
    problems = pre_gen.check_answers(answers(**changes))

    assert len(problems) == 1
    assert problems[0].startswith(message)
    assert ":" in problems[0]


@pytest.mark.parametrize("combination", COMBINATIONS)
def test_every_supported_combination_is_accepted(combination: dict[str, str]) -> None:
    assert pre_gen.check_answers(answers(**combination)) == []


def test_every_database_is_offered_with_either_session_style() -> None:
    assert sorted(map(pre_gen.describe, COMBINATIONS)) == sorted(
        f"database={database} session={session}"
        for database in COOKIECUTTER_JSON["database"]
        for session in ("sync", "async")
    )


def test_a_combination_left_out_of_the_supported_list_is_refused_with_the_list() -> None:
    left_out = {"database": "sqlite", "session": "async"}
    supported = [combination for combination in COMBINATIONS if combination != left_out]

    assert pre_gen.check_answers(answers(**left_out) | {"_supported_combinations": supported}) == [
        "database=sqlite session=async is not a supported combination: choose one of "
        + ", ".join(pre_gen.describe(combination) for combination in supported)
    ]


def test_the_session_style_follows_the_database_unless_given() -> None:
    assert full_context({"database": "sqlite"})["session"] == "sync"
    assert full_context({"database": "postgresql"})["session"] == "async"
    assert full_context({"database": "postgresql", "session": "sync"})["session"] == "sync"


RULES = """
[[rule]]
when = { database = "sqlite" }
[rule.files]
"db.py" = "db.sqlite.py"
"tests/test_db.py" = "tests/test_db.sqlite.py"

[[rule]]
when = { database = "postgresql" }
[rule.files]
"db.py" = "db.postgresql.py"
"pg_only.py" = "pg_only.py"

[[rule]]
when = { session = "async" }
[rule.files]
"session.py" = "session.async.py"

[[rule]]
when = { database = "sqlite", session = ["sync", "async"] }
[rule.files]
"pragmas.py" = "pragmas.sqlite.py"
"""
TEMPLATE_FILES = [
    "db.sqlite.py",
    "db.postgresql.py",
    "pg_only.py",
    "tests/test_db.sqlite.py",
    "session.async.py",
    "pragmas.sqlite.py",
    "shared.py",
]
SUPPORTED = [
    {"database": "sqlite", "session": "sync"},
    {"database": "sqlite", "session": "async"},
    {"database": "postgresql", "session": "async"},
]


def with_rule(when: str, files: str) -> str:
    """The rules above and one more."""
    return f"{RULES}[[rule]]\nwhen = {{ {when} }}\nfiles = {{ {files} }}\n"


def write_project(root: Path, rules: str = RULES, files: list[str] = TEMPLATE_FILES) -> Path:
    (root / "tests").mkdir(exist_ok=True)
    for name in files:
        (root / name).write_text(name)
    (root / post_gen.MANIFEST).write_text(rules)
    return root


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return write_project(tmp_path)


def files(root: Path) -> dict[str, str]:
    return {
        path.relative_to(root).as_posix(): path.read_text()
        for path in root.rglob("*")
        if path.is_file()
    }


def generate(project: Path, **chosen: str) -> int:
    code: int = post_gen.main(project, {**chosen, "_supported_combinations": SUPPORTED})
    return code


def test_post_gen_keeps_what_the_answers_choose_and_deletes_the_rest(project: Path) -> None:
    assert generate(project, database="sqlite", session="sync") == 0

    assert files(project) == {
        "db.py": "db.sqlite.py",
        "tests/test_db.py": "tests/test_db.sqlite.py",
        "pragmas.py": "pragmas.sqlite.py",
        "shared.py": "shared.py",
    }


def test_post_gen_combines_rules_of_different_questions(project: Path) -> None:
    assert generate(project, database="postgresql", session="async") == 0

    assert files(project) == {
        "db.py": "db.postgresql.py",
        "pg_only.py": "pg_only.py",
        "session.py": "session.async.py",
        "shared.py": "shared.py",
    }


def test_a_rule_can_hold_for_a_list_of_answers(project: Path) -> None:
    assert generate(project, database="sqlite", session="async") == 0

    assert files(project)["pragmas.py"] == "pragmas.sqlite.py"
    assert files(project)["session.py"] == "session.async.py"


@pytest.mark.parametrize(
    ("rules", "message"),
    [
        pytest.param(
            with_rule('database = "sqlite"', '"x.py" = "missing.py"'),
            "missing.py is named by a rule but the template has no such file",
            id="a missing file",
        ),
        pytest.param(
            with_rule('database = "sqlite"', '"other.py" = "pg_only.py"'),
            "pg_only.py is claimed as both pg_only.py and other.py",
            id="one file, two names",
        ),
        pytest.param(
            with_rule('session = "sync"', '"db.py" = "shared.py"'),
            "db.py would be made from both db.sqlite.py and shared.py",
            id="two files, one name",
        ),
        pytest.param(
            with_rule('databse = "sqlite"', '"x.py" = "shared.py"'),
            "rule 5: 'databse' is not a question of the template",
            id="a misspelt question",
        ),
        pytest.param(
            with_rule('session = "snyc"', '"x.py" = "shared.py"'),
            "rule 5: session has no answer ['snyc']",
            id="a misspelt answer",
        ),
        pytest.param(
            with_rule('database = "sqlite"', '"../outside.py" = "shared.py"'),
            "../outside.py = shared.py: paths must stay inside the project",
            id="a path outside the project",
        ),
        pytest.param(
            '[[rules]]\nwhen = { session = "sync" }\nfiles = { "x.py" = "shared.py" }\n',
            "variants.toml must hold [[rule]] tables and nothing else",
            id="a misspelt table",
        ),
        pytest.param(
            RULES + "[[rule]]\nwhen = {",
            "variants.toml is not valid TOML",
            id="not TOML",
        ),
        pytest.param(
            RULES + '[[rule]]\nwhen = { session = "sync" }\n',
            "rule 5 needs a non-empty `when` table and a non-empty `files` table",
            id="a rule without files",
        ),
    ],
)
def test_post_gen_checks_every_rule_before_it_touches_a_file(
    tmp_path: Path, rules: str, message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    project = write_project(tmp_path, rules)
    before = files(project)

    assert generate(project, database="sqlite", session="sync") == 1

    assert message in capsys.readouterr().err
    assert files(project) == before


def test_post_gen_refuses_to_overwrite_a_file_no_rule_names(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    project = write_project(tmp_path, files=[*TEMPLATE_FILES, "db.py"])
    before = files(project)

    assert generate(project, database="sqlite", session="sync") == 1

    assert "db.sqlite.py would overwrite db.py, which no rule names" in capsys.readouterr().err
    assert files(project) == before


def test_post_gen_refuses_to_overwrite_a_file_the_project_keeps(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    chain = with_rule('database = "sqlite"', '"moved.py" = "shared.py"').replace(
        '"db.py" = "db.sqlite.py"', '"shared.py" = "db.sqlite.py"'
    )
    project = write_project(tmp_path, chain)
    before = files(project)

    assert generate(project, database="sqlite", session="sync") == 1

    message = "db.sqlite.py would overwrite shared.py, which the project keeps"
    assert message in capsys.readouterr().err
    assert files(project) == before


def test_post_gen_makes_the_directories_a_path_needs(tmp_path: Path) -> None:
    project = write_project(tmp_path, with_rule('session = "sync"', '"new/dir/x.py" = "shared.py"'))

    assert generate(project, database="sqlite", session="sync") == 0

    assert files(project)["new/dir/x.py"] == "shared.py"


@pytest.mark.parametrize("combination", VARIANTS)
def test_the_template_rules_apply_cleanly_to_every_supported_combination(
    combination: dict[str, str],
) -> None:
    context = full_context(combination)
    rules = post_gen.load_rules(PROJECT_TEMPLATE)
    # The rules' paths, as the template names them before rendering.
    package = "{{cookiecutter.package_name}}"
    for rule in rules:
        rule["files"] = {
            target.replace("{{ cookiecutter.package_name }}", package): source.replace(
                "{{ cookiecutter.package_name }}", package
            )
            for target, source in rule["files"].items()
        }

    delete, moves = post_gen.plan(rules, context, PROJECT_TEMPLATE)

    assert delete
    assert moves


def test_the_template_rules_name_only_answers_the_questions_offer() -> None:
    """The hook checks a rule's database and session style against the supported combinations;
    an answer to another question (tracing) is checked here, against its choices."""
    for rule in post_gen.load_rules(PROJECT_TEMPLATE):
        for question, accepted in post_gen.accepted_answers(rule).items():
            if question not in COMBINATIONS[0]:
                assert set(accepted) <= set(COOKIECUTTER_JSON[question]), rule
