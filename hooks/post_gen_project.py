"""Keep the files of the answers chosen, delete the others', as `variants.toml` lists them."""

from __future__ import annotations

import contextlib
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

MANIFEST = "variants.toml"


class ManifestError(Exception):
    """The manifest and the template disagree: a bug in the template, not in the answers."""


def load_manifest(project: Path) -> dict[str, dict[str, dict[str, str]]]:
    import tomllib

    with (project / MANIFEST).open("rb") as file:
        manifest: dict[str, dict[str, dict[str, str]]] = tomllib.load(file)
    return manifest


def plan(
    manifest: dict[str, dict[str, dict[str, str]]], answers: dict[str, Any]
) -> tuple[list[str], dict[str, str]]:
    """The template paths to delete, and the moves (template path -> project path) to make."""
    delete: list[str] = []
    moves: dict[str, str] = {}
    for question, files_by_answer in manifest.items():
        chosen = answers.get(question)
        if chosen not in files_by_answer:
            raise ManifestError(
                f"{MANIFEST} has no [{question}.{chosen}] table; it has"
                f" {sorted(files_by_answer)} for {question!r}"
            )
        for answer, files in files_by_answer.items():
            if answer == chosen:
                moves.update({source: target for target, source in files.items()})
            else:
                delete.extend(files.values())
    return delete, moves


def apply(project: Path, delete: list[str], moves: dict[str, str]) -> None:
    missing = [path for path in [*delete, *moves] if not (project / path).is_file()]
    if missing:
        raise ManifestError(f"{MANIFEST} lists files that the template lacks: {missing}")
    for path in delete:
        (project / path).unlink()
    for source, target in moves.items():
        if source != target:
            if (project / target).exists():
                raise ManifestError(f"{source} would overwrite {target}")
            (project / source).rename(project / target)
    (project / MANIFEST).unlink()


def main(project: Path, answers: dict[str, Any]) -> int:
    try:
        apply(project, *plan(load_manifest(project), answers))
    except ManifestError as error:
        print(f"Error: {error}", file=sys.stderr)
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
    sys.exit(main(Path.cwd(), json.loads(r"""{{ cookiecutter | tojson }}""")))
