"""Taking later template changes into a project, with cruft, as the generated README says."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from local_extensions import cruft_state, git_commit

from .baking import COOKIECUTTER_JSON, SKIPPED_DIRS, TEMPLATE, bake, full_context

BIN = Path(sys.executable).parent
GIT_ENV = os.environ | {
    "GIT_AUTHOR_NAME": "Template Tests",
    "GIT_AUTHOR_EMAIL": "tests@example.com",
    "GIT_COMMITTER_NAME": "Template Tests",
    "GIT_COMMITTER_EMAIL": "tests@example.com",
    "GIT_CONFIG_GLOBAL": os.devnull,  # the user's own settings (hooks, signing) stay out
}
DATABASES = list(COOKIECUTTER_JSON["_session_for_database"])


def run(cwd: Path, *command: str | Path, check: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [str(part) for part in command], cwd=cwd, env=GIT_ENV, capture_output=True, text=True
    )
    if check:
        assert result.returncode == 0, f"{command}:\n{result.stdout}{result.stderr}"
    return result


def commit_all(repository: Path, message: str) -> str:
    run(repository, "git", "add", "--all")
    run(repository, "git", "commit", "--quiet", "--message", message)
    return run(repository, "git", "rev-parse", "HEAD").stdout.strip()


@pytest.fixture(scope="module")
def published(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The template as a git repository at one commit: its files as they are here."""
    repository = tmp_path_factory.mktemp("published") / "template"
    listed = run(TEMPLATE, "git", "ls-files", "--cached", "--others", "--exclude-standard")
    for name in listed.stdout.splitlines():
        if (TEMPLATE / name).is_file():  # not one deleted from the work tree
            (repository / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(TEMPLATE / name, repository / name)
    run(repository, "git", "init", "--quiet", "--initial-branch", "main")
    commit_all(repository, "The template, as published")
    return repository


@pytest.fixture
def template(published: Path, tmp_path: Path) -> Path:
    """A clone of the published template, for one test to change."""
    run(tmp_path, "git", "clone", "--quiet", published, "template")
    return tmp_path / "template"


def generate(template: Path, output: Path, database: str) -> Path:
    """A project made with plain cookiecutter, committed to a git repository of its own."""
    run(
        output.parent,
        BIN / "cookiecutter",
        "--no-input",
        "-o",
        output,
        template,
        f"database={database}",
    )
    (project,) = output.iterdir()
    run(project, "git", "init", "--quiet", "--initial-branch", "main")
    commit_all(project, "Generated")
    return project


def tree(root: Path) -> dict[str, bytes]:
    return {
        path.relative_to(root).as_posix(): path.read_bytes()
        for path in sorted(root.rglob("*"))
        if path.is_file() and not SKIPPED_DIRS.intersection(path.relative_to(root).parts)
    }


@pytest.mark.slow
@pytest.mark.parametrize("database", DATABASES)
def test_a_project_takes_a_template_change_and_keeps_its_own(
    template: Path, tmp_path: Path, database: str
) -> None:
    project = generate(template, tmp_path / "projects", database)
    published = run(template, "git", "rev-parse", "HEAD").stdout.strip()
    state = json.loads((project / ".cruft.json").read_text())
    assert (state["template"], state["commit"]) == (str(template), published)
    assert run(project, BIN / "cruft", "check").returncode == 0
    # The recorded answers make this very project again: cruft sees no difference.
    assert run(project, BIN / "cruft", "diff", "--exit-code").stdout == ""

    # The project's team retitles its README; the template changes the same line, and a file
    # the team has not touched, with a filter the template did not have before.
    readme = project / "README.md"
    readme.write_text(readme.read_text().replace("# My Items Service", "# Our inventory", 1))
    commit_all(project, "Our title")
    extensions = template / "local_extensions.py"
    registered = '        environment.filters["string_literal"] = string_literal\n'
    added = registered + '        environment.filters["shout"] = str.upper\n'
    extensions.write_text(extensions.read_text().replace(registered, added, 1))
    editorconfig = template / "{{cookiecutter.project_slug}}" / ".editorconfig"
    sql = "\n# {{ 'sql files' | shout }}\n[*.sql]\nindent_size = 2\n"
    editorconfig.write_text(editorconfig.read_text() + sql)
    readme_template = template / "{{cookiecutter.project_slug}}" / "README.md"
    readme_template.write_text(
        readme_template.read_text().replace(
            "# {{ cookiecutter.project_name }}\n", "# {{ cookiecutter.project_name }} service\n", 1
        )
    )
    changed = commit_all(template, "A template change")

    checked = run(project, BIN / "cruft", "check", check=False)
    assert checked.returncode == 1, checked.stdout
    assert "out of date" in checked.stdout
    run(project, BIN / "cruft", "update", "--skip-apply-ask")

    sql_rendered = "\n# SQL FILES\n[*.sql]\nindent_size = 2\n"
    assert (project / ".editorconfig").read_text().endswith(sql_rendered)
    title = readme.read_text().splitlines()
    # Left for the team to merge, as cruft does: git's conflict markers around both titles.
    assert title[:5] == [
        "<<<<<<< ours",
        "# Our inventory",
        "=======",
        "# My Items Service service",
        ">>>>>>> theirs",
    ]
    status = run(project, "git", "status", "--porcelain").stdout.splitlines()
    assert sorted(line[3:] for line in status) == [".cruft.json", ".editorconfig", "README.md"]
    assert json.loads((project / ".cruft.json").read_text())["commit"] == changed
    assert run(project, BIN / "cruft", "check").returncode == 0


@pytest.mark.slow
@pytest.mark.parametrize("database", DATABASES)
def test_cruft_create_makes_the_same_project_as_cookiecutter(
    template: Path, tmp_path: Path, database: str
) -> None:
    made = generate(template, tmp_path / "cookiecutter", database)
    created = tmp_path / "cruft"
    answers = json.dumps({"database": database})
    run(
        tmp_path,
        BIN / "cruft",
        "create",
        "--no-input",
        "--output-dir",
        created,
        "--extra-context",
        answers,
        template,
    )

    assert tree(created / made.name) == tree(made)


def test_projects_record_the_latest_release_of_the_changelog(tmp_path: Path) -> None:
    changelog = (TEMPLATE / "CHANGELOG.md").read_text()
    releases = re.findall(r"^## \[(\d+\.\d+\.\d+)\] - \d{4}-\d{2}-\d{2}$", changelog, re.MULTILINE)
    assert releases, "CHANGELOG.md lists no release"

    project = bake(tmp_path)

    assert COOKIECUTTER_JSON["_version"] == releases[0]
    state = json.loads((project / ".cruft.json").read_text())
    assert state["context"]["cookiecutter"]["_version"] == releases[0]
    assert f"made from version {releases[0]} of its template" in (project / "README.md").read_text()


def test_the_commit_is_read_from_the_template_s_git_files(template: Path, tmp_path: Path) -> None:
    head = run(template, "git", "rev-parse", "HEAD").stdout.strip()

    assert git_commit(template) == head  # on a branch, whose ref is a file of its own
    run(template, "git", "pack-refs", "--all")
    assert git_commit(template) == head  # the ref packed into packed-refs
    run(template, "git", "worktree", "add", "--quiet", "-b", "other", tmp_path / "worktree")
    assert git_commit(tmp_path / "worktree") == head  # a worktree: .git is a file
    run(template, "git", "checkout", "--quiet", "--detach")
    assert git_commit(template) == head  # detached, as cookiecutter leaves a tag checked out
    assert git_commit(tmp_path / "elsewhere") is None  # not a repository


def test_a_template_given_by_abbreviation_is_recorded_by_its_url(template: Path) -> None:
    head = run(template, "git", "rev-parse", "HEAD").stdout.strip()
    context = full_context({}) | {
        "_template": "gh:owner/repository",
        "_repo_dir": str(template),  # where cookiecutter cloned it
        "_output_dir": "/somewhere",
        "_checkout": "v0.1.0",
    }

    state = json.loads(cruft_state(context))
    # cookiecutter's own prefix for a git URL, which git does not take.
    prefixed = json.loads(cruft_state(context | {"_template": "git+ssh://git@host/owner/repo"}))

    url = "https://github.com/owner/repository.git"
    assert (state["template"], state["commit"], state["checkout"]) == (url, head, "v0.1.0")
    recorded = state["context"]["cookiecutter"]
    assert (recorded["_template"], recorded["_commit"]) == (url, head)
    assert not {"_repo_dir", "_output_dir", "_checkout", "__prompts__"} & set(recorded)
    assert prefixed["template"] == "ssh://git@host/owner/repo"
    # A directory is used as it is, whatever --checkout says: no checkout is recorded.
    local = json.loads(cruft_state(context | {"_template": str(template)}))
    assert (local["template"], local["commit"], local["checkout"]) == (str(template), head, None)


@pytest.mark.slow
def test_a_project_made_from_a_tag_of_a_cloned_template_checks_and_updates(
    template: Path, tmp_path: Path
) -> None:
    """As from `cookiecutter gh:owner/repo --checkout v0.1.0`: cookiecutter clones the
    template (here from a git+file URL, into a directory of this test's) and checks the tag
    out; the project records the URL and the tag's commit, and cruft follows both."""
    tagged = run(template, "git", "rev-parse", "HEAD").stdout.strip()
    run(template, "git", "tag", "v0.1.0")
    editorconfig = template / "{{cookiecutter.project_slug}}" / ".editorconfig"
    editorconfig.write_text(editorconfig.read_text() + "\n[*.sql]\nindent_size = 2\n")
    later = commit_all(template, "After the release")
    config = tmp_path / "cookiecutter.yaml"
    config.write_text(f"cookiecutters_dir: {tmp_path / 'clones'}\nreplay_dir: {tmp_path}\n")
    url = f"git+{template.as_uri()}"
    command: list[str | Path] = [BIN / "cookiecutter", "--no-input", "--config-file", config]
    run(tmp_path, *command, "--output-dir", tmp_path / "projects", url, "--checkout", "v0.1.0")
    (project,) = (tmp_path / "projects").iterdir()
    run(project, "git", "init", "--quiet", "--initial-branch", "main")
    commit_all(project, "Generated")

    state = json.loads((project / ".cruft.json").read_text())
    assert (state["template"], state["commit"]) == (template.as_uri(), tagged)
    assert state["checkout"] == "v0.1.0"
    assert run(project, BIN / "cruft", "check", "--checkout", "v0.1.0").returncode == 0
    assert run(project, BIN / "cruft", "check", check=False).returncode == 1
    run(project, BIN / "cruft", "update", "--skip-apply-ask")
    assert (project / ".editorconfig").read_text().endswith("[*.sql]\nindent_size = 2\n")
    assert json.loads((project / ".cruft.json").read_text())["commit"] == later
