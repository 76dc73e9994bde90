"""The project's guide to adding a resource (docs/adding-a-resource.md), followed in a fresh
copy of each combination's project: its code blocks applied as they stand, its commands run;
then the project's whole suite, ruff and mypy pass. And the lazy loading and the eager delete
that the guide warns of fail as it says they do."""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from .baking import Project
from .conftest import ci_environment
from .test_variants import migrated_database

pytestmark = pytest.mark.slow

BLOCK = re.compile(r"^```(\w+)([^\n]*)\n(.*?)^```$", re.MULTILINE | re.DOTALL)
EAGER = "        .options(selectinload(Order.lines))\n"
PASSIVE = "        passive_deletes=True,\n"


def follow_the_guide(project: Project, env: dict[str, str]) -> int:
    """Apply the guide's blocks in order: a diff is applied, a console block's commands run,
    a Python block titled with a path becomes that file (or is appended to it). The number of
    blocks."""
    blocks = BLOCK.findall((project.path / "docs" / "adding-a-resource.md").read_text())
    for language, info, body in blocks:
        if language == "diff":
            apply = ["git", "apply", "--recount", "--verbose", "-"]
            result = subprocess.run(
                apply, cwd=project.path, input=body, capture_output=True, text=True
            )
            assert result.returncode == 0, f"{result.stderr}\n{body}"
        elif language == "console":
            for line in body.splitlines():
                project.run(shlex.split(line.removeprefix("$ ")), env=env)
        else:
            title = re.search(r'title="([^"]+)"', info)
            assert language == "python", f"a block the test cannot follow: {language}"
            assert title, f"a Python block without a title: {info}"
            target = project.path / title.group(1)
            if 'mode="append"' in info:
                target.write_text(f"{target.read_text()}\n\n{body}")
            else:
                assert not target.exists(), f"{target} exists: the guide would overwrite it"
                target.write_text(body)
    return len(blocks)


@pytest.mark.defaults_only
def test_the_guide_to_a_new_resource_makes_a_project_that_passes_its_checks(
    project: Project, tmp_path: Path, request: pytest.FixtureRequest, workdir: Path
) -> None:
    assert project.pristine is not None
    # In the run's directory, as every project is (conftest.workdir says why).
    copy = Path(tempfile.mkdtemp(prefix="guided-", dir=workdir)) / project.path.name
    guided = Project(copy, project.answers, {})
    shutil.copytree(project.pristine, guided.path)
    guided.run(guided.readme_command("install"))
    env = migrated_database(guided, tmp_path, request)

    blocks = follow_the_guide(guided, env)

    assert blocks >= 8
    assert len(list((guided.path / "migrations" / "versions").glob("*_add_orders.py"))) == 1
    guided.run(["uv", "run", "ruff", "check", "."])
    guided.run(["uv", "run", "ruff", "format", "--check", "."])
    guided.run(["uv", "run", "mypy"])
    test = [*guided.readme_command("test"), "--cov"]
    suite = guided.run(test, env=ci_environment(guided, request))
    assert "test_orders.py" in guided.run([*test[:-1], "--collect-only", "-q"]).stdout
    assert "Required test coverage of 95" in suite.stdout  # and reached: it passed

    # The list without selectinload, the delete without passive_deletes: what the guide says.
    package = guided.path / "src" / project.context["package_name"]
    for module, line in ((package / "orders.py", EAGER), (package / "models.py", PASSIVE)):
        assert module.read_text().count(line) == 1
        module.write_text(module.read_text().replace(line, ""))
    only_orders = ["tests/test_orders.py", "tests/test_statement_budgets.py", "-k", "orders", "-n0"]
    lazy = guided.run(
        [*test[:-1], *only_orders],
        env=ci_environment(guided, request),
        check=False,
    )
    output = lazy.stdout + lazy.stderr
    budget = "tests/test_statement_budgets.py::test_each_endpoint_keeps_to_its_statement_budget"
    summary = output.partition("short test summary")[2]
    failed = re.findall(r"^FAILED (.+?)(?: - .*)?$", summary, re.MULTILINE)
    expected = {f"{budget}[GET /orders]", f"{budget}[DELETE /orders/{{order_id}}]"}
    if project.answers["session"] == "async":
        assert "MissingGreenlet" in output, output
        expected.add("tests/test_orders.py::test_orders_are_listed_oldest_first_with_their_lines")
    # Those, and nothing else: the rest of the API works, deletes included.
    assert sorted(failed) == sorted(expected), output
