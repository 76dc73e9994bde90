"""Keep the files that belong to the answers given and delete the others, as `variants.toml`
says; then delete `variants.toml`.

Every rule is checked before any file is touched: a mistake in the rules fails the generation
with a message naming it, and leaves the project as it was rendered, never half-pruned.
"""

from __future__ import annotations

import contextlib
import json
import sys
import tempfile
import tomllib
from pathlib import Path
from typing import Any

MANIFEST = "variants.toml"


class ManifestError(Exception):
    """The rules and the template disagree: a bug in the template, not in the answers."""


def load_rules(project: Path) -> list[dict[str, Any]]:
    with (project / MANIFEST).open("rb") as file:
        try:
            manifest = tomllib.load(file)
        except tomllib.TOMLDecodeError as error:
            raise ManifestError(f"{MANIFEST} is not valid TOML: {error}") from None
    rules = manifest.get("rule")
    if set(manifest) != {"rule"} or not isinstance(rules, list) or not rules:
        raise ManifestError(f"{MANIFEST} must hold [[rule]] tables and nothing else")
    return rules


def accepted_answers(rule: dict[str, Any]) -> dict[str, list[str]]:
    """A rule's condition: each question it names, and the answers it holds for."""
    return {
        question: [accepted] if isinstance(accepted, str) else accepted
        for question, accepted in rule["when"].items()
    }


def holds(rule: dict[str, Any], answers: dict[str, Any]) -> bool:
    return all(answers[q] in accepted for q, accepted in accepted_answers(rule).items())


def rule_problems(number: int, rule: dict[str, Any], answers: dict[str, Any]) -> list[str]:
    """What is wrong with one rule by itself: its shape, and the answers it names."""
    when, files = rule.get("when"), rule.get("files")
    if not isinstance(when, dict) or not when or not isinstance(files, dict) or not files:
        return [f"rule {number} needs a non-empty `when` table and a non-empty `files` table"]
    problems = []
    offered: dict[str, set[str]] = {}
    for combination in answers.get("_supported_combinations", []):
        for question, answer in combination.items():
            offered.setdefault(question, set()).add(answer)
    for question, accepted in accepted_answers(rule).items():
        if question not in answers:
            problems.append(f"rule {number}: {question!r} is not a question of the template")
        elif not isinstance(accepted, list) or not all(isinstance(a, str) for a in accepted):
            problems.append(f"rule {number}: {question} must be an answer or a list of answers")
        elif unknown := set(accepted) - offered.get(question, set(accepted)):
            problems.append(f"rule {number}: {question} has no answer {sorted(unknown)}")
    return problems


def plan(
    rules: list[dict[str, Any]], answers: dict[str, Any], project: Path
) -> tuple[list[str], dict[str, str]]:
    """The template files to delete, and the moves (template path -> project path) to make.

    Raises ManifestError, naming every problem, if the rules cannot all be carried out.
    """
    problems = [p for n, rule in enumerate(rules, 1) for p in rule_problems(n, rule, answers)]
    if problems:
        raise ManifestError("\n".join(problems))
    target_of: dict[str, str] = {}  # template path -> project path
    kept: set[str] = set()
    made_by: dict[str, str] = {}  # project path -> the template path that makes it
    for rule in rules:
        applies = holds(rule, answers)
        for target, source in rule["files"].items():
            if any(Path(p).is_absolute() or ".." in Path(p).parts for p in (target, source)):
                problems.append(f"{target} = {source}: paths must stay inside the project")
                continue
            if target_of.setdefault(source, target) != target:
                problems.append(f"{source} is claimed as both {target_of[source]} and {target}")
            if not (project / source).is_file():
                problems.append(f"{source} is named by a rule but the template has no such file")
            if applies:
                kept.add(source)
                if made_by.setdefault(target, source) != source:
                    problems.append(
                        f"{target} would be made from both {made_by[target]} and {source}"
                    )
    for target, source in made_by.items():
        # A project path may take the place of a template file only if that file is deleted.
        if target == source or not (project / target).exists():
            continue
        if target in kept:
            problems.append(f"{source} would overwrite {target}, which the project keeps")
        elif target not in target_of:
            problems.append(f"{source} would overwrite {target}, which no rule names")
    if problems:
        raise ManifestError("\n".join(problems))
    delete = sorted(source for source in target_of if source not in kept)
    moves = {source: target_of[source] for source in sorted(kept)}
    return delete, moves


def apply(project: Path, delete: list[str], moves: dict[str, str]) -> None:
    for path in delete:
        (project / path).unlink()
    for source, target in moves.items():
        if source != target:
            (project / target).parent.mkdir(parents=True, exist_ok=True)
            (project / source).rename(project / target)
    (project / MANIFEST).unlink()


def main(project: Path, answers: dict[str, Any]) -> int:
    try:
        apply(project, *plan(load_rules(project), answers, project))
    except ManifestError as error:
        print(f"Error: {MANIFEST} cannot be applied:\n{error}", file=sys.stderr)
        return 1
    return 0


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
    remove_rendered_copy(Path(__file__))
    sys.exit(main(Path.cwd(), json.loads(r"""{{ cookiecutter | with_session_style | tojson }}""")))
