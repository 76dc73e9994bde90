"""A project's README is the service's front page, short; the reasoning is in pages under docs/,
each linked from it, and every link and every pointer from the code lands on what it names."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from urllib.parse import unquote

from .baking import SKIPPED_DIRS, TEMPLATE, Project
from .test_guide import BLOCK

README_LINES = 250
LINK = re.compile(r"\[[^\]]+\]\(([^)\s]+)\)")
FENCED = re.compile(r"^```.*?^```$", re.MULTILINE | re.DOTALL)
HEADING = re.compile(r"^#{1,6} (.+)$", re.MULTILINE)
# How the code points at a page: `docs/sessions.md`, and `"Units of work" in docs/sessions.md`
# or `docs/sessions.md, "Units of work"` for a section of it.
PAGE = re.compile(r"docs/[\w-]+\.md")
SECTION = re.compile(r'"([^"]+)" in\s+(?:#\s*)?(docs/[\w-]+\.md)|(docs/[\w-]+\.md), "([^"]+)"')


def anchor(heading: str) -> str:
    """The anchor GitHub gives a heading: lowercase, punctuation dropped, spaces as hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.lower()).replace(" ", "-")


def headings(page: Path) -> list[str]:
    return HEADING.findall(FENCED.sub("", page.read_text()))


def pristine(project: Project) -> Path:
    assert project.pristine is not None
    return project.pristine


def test_the_readme_is_short_and_links_every_page(project: Project) -> None:
    root = pristine(project)
    readme = (root / "README.md").read_text()
    linked = set(LINK.findall(FENCED.sub("", readme)))
    pages = sorted(path.relative_to(root).as_posix() for path in (root / "docs").glob("*.md"))

    assert len(readme.splitlines()) <= README_LINES
    assert len(pages) >= 6
    assert [page for page in pages if page not in linked] == []


def broken_links(root: Path, pages: list[Path]) -> tuple[int, list[str]]:
    """How many relative links `pages` hold, and those whose file or section is missing."""
    broken = []
    checked = 0
    for page in pages:
        for target in LINK.findall(FENCED.sub("", page.read_text())):
            if re.match(r"[a-z]+:", target):  # https:, mailto:
                continue
            path, _, fragment = unquote(target).partition("#")
            linked = (page.parent / path).resolve() if path else page
            checked += 1
            if not linked.is_file():
                broken.append(f"{page.relative_to(root)}: {target} (no such file)")
            elif fragment and fragment not in {anchor(h) for h in headings(linked)}:
                broken.append(f"{page.relative_to(root)}: {target} (no such section)")
    return checked, broken


def test_every_relative_link_of_the_docs_resolves(project: Project) -> None:
    root = pristine(project)
    checked, broken = broken_links(root, [root / "README.md", *(root / "docs").glob("*.md")])

    assert checked >= 20
    assert broken == []


def test_every_relative_link_of_the_template_s_readmes_resolves() -> None:
    """Links to the project's pages reach them in the template, as GitHub shows it."""
    readmes = [TEMPLATE / "README.md", TEMPLATE / "benchmark" / "README.md"]
    checked, broken = broken_links(TEMPLATE, readmes)

    assert checked >= 8
    assert broken == []


def test_the_code_points_at_pages_and_sections_that_exist(project: Project) -> None:
    root = pristine(project)
    missing = []
    pointers = 0
    for path in root.rglob("*"):
        if not path.is_file() or SKIPPED_DIRS & set(path.parts) or path.suffix == ".md":
            continue
        text = path.read_text()
        for page in PAGE.findall(text):
            pointers += 1
            if not (root / page).is_file():
                missing.append(f"{path.relative_to(root)}: {page}")
        for first, page, other_page, second in SECTION.findall(re.sub(r"\s+", " ", text)):
            section, page = first or second, page or other_page
            if not (root / page).is_file():
                continue  # named above
            if not any(heading.startswith(section) for heading in headings(root / page)):
                missing.append(f"{path.relative_to(root)}: {section!r} in {page}")

    assert pointers >= 10
    assert missing == []


def test_the_guide_s_diffs_apply_to_the_project_as_made(project: Project) -> None:
    """A change to a file that the guide patches must change the guide too. The slow test
    follows the whole guide; this checks, in the fast loop, that each of its diffs applies."""
    root = pristine(project)
    guide = (root / "docs" / "adding-a-resource.md").read_text()
    diffs = [body for language, _info, body in BLOCK.findall(guide) if language == "diff"]
    for diff in diffs:
        check = ["git", "apply", "--check", "--recount", "-"]
        result = subprocess.run(check, cwd=root, input=diff, capture_output=True, text=True)
        assert result.returncode == 0, f"{result.stderr}\n{diff}"

    assert len(diffs) >= 3
