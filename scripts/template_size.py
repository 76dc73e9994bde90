"""How much Python the template holds, against the Python of the projects it makes.

    uv run python scripts/template_size.py

Renders every supported combination (cookiecutter.json lists them), each with every optional
feature chosen (the other questions' last answers: tracing, auth), counts the lines of the
Python files under the project template and in each rendered project, and prints the ratio
of the template's to the largest project's. Code written once for every project keeps the
ratio near 1; a file copied per answer pushes it up.
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

from cookiecutter.main import cookiecutter

TEMPLATE = Path(__file__).resolve().parents[1]
PROJECT_TEMPLATE = TEMPLATE / "{{cookiecutter.project_slug}}"
LIMIT = 1.4


def python_lines(root: Path) -> int:
    return sum(len(path.read_text().splitlines()) for path in root.rglob("*.py"))


def sizes() -> tuple[int, dict[str, int]]:
    """Lines of Python in the template, and in the project of each supported combination."""
    questions = json.loads((TEMPLATE / "cookiecutter.json").read_text())
    supported = questions["_supported_combinations"]
    optional = [q for q in questions if not q.startswith("_") and q not in supported[0]]
    features = {q: questions[q][-1] for q in optional if isinstance(questions[q], list)}
    projects = {}
    with tempfile.TemporaryDirectory() as output:
        for combination in supported:
            name = "-".join(f"{question}:{answer}" for question, answer in combination.items())
            project = cookiecutter(
                str(TEMPLATE),
                no_input=True,
                output_dir=str(Path(output) / name.replace(":", "_")),
                extra_context=combination | features,
            )
            projects[name] = python_lines(Path(project))
    return python_lines(PROJECT_TEMPLATE), projects


def main() -> int:
    template, projects = sizes()
    for name, lines in projects.items():
        print(f"{name}: {lines} lines of Python")
    ratio = template / max(projects.values())
    print(f"template: {template} lines of Python, {ratio:.2f} times the largest project")
    print(f"limit: {LIMIT} times: {'met' if ratio <= LIMIT else 'EXCEEDED'}")
    return 0 if ratio <= LIMIT else 1


if __name__ == "__main__":
    sys.exit(main())
