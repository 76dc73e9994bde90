"""A concurrent mix of requests against a served project, and what it must leave behind."""

from __future__ import annotations

import json
import random
import time
import urllib.error
import urllib.request
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Answer:
    call: str
    status: int
    body: Any


@dataclass
class Mix:
    answers: list[Answer]
    seconds: float
    # What went wrong: a call that failed, or state the calls left that they should not have.
    problems: list[str] = field(default_factory=list)

    @property
    def statuses(self) -> Counter[tuple[str, int]]:
        return Counter((answer.call, answer.status) for answer in self.answers)

    def summary(self) -> str:
        counts = ", ".join(f"{call} {status}: {n}" for (call, status), n in self.statuses.items())
        rate = len(self.answers) / self.seconds
        return f"{len(self.answers)} requests in {self.seconds:.1f} s ({rate:.0f}/s): {counts}"


def call(base: str, method: str, path: str, body: dict[str, Any] | None = None) -> Answer:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(f"{base}{path}", data=data, method=method)
    request.add_header("content-type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            status, text = response.status, response.read()
    except urllib.error.HTTPError as error:
        status, text = error.code, error.read()
    return Answer(f"{method} {path.split('?')[0].rstrip('0123456789')}", status, _json(text))


def _json(text: bytes) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return text.decode(errors="replace")


def run_mix(base: str, *, requests: int, concurrency: int, seed: int) -> Mix:
    """Creates, updates, reads and lists, `concurrency` at a time, in a random order (from
    `seed`). Every call must succeed, and afterwards every item created must be there, each
    once, as the last update that succeeded left it (each update writes its own value)."""
    rng = random.Random(seed)
    first = [call(base, "POST", "/items", {"title": f"First {n}"}) for n in range(concurrency)]
    ids = [answer.body["id"] for answer in first if answer.status == 201]
    plan: list[tuple[str, str, dict[str, Any] | None]] = []
    for n in range(requests):
        item = rng.choice(ids) if ids else 0
        plan.append(
            rng.choice(
                [
                    ("POST", "/items", {"title": f"Made {n}"}),
                    ("PATCH", f"/items/{item}", {"description": f"Update {n}"}),
                    ("GET", f"/items/{item}", None),
                    ("GET", "/items?limit=20", None),
                ]
            )
        )
    started = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        answers = list(pool.map(lambda step: call(base, *step), plan))
    mix = Mix(first + answers, time.perf_counter() - started)

    expected = {"POST /items": 201, "PATCH /items/": 200, "GET /items/": 200, "GET /items": 200}
    mix.problems += [
        f"{answer.call} answered {answer.status}: {answer.body}"
        for answer in mix.answers
        if answer.status != expected[answer.call]
    ]
    made = [answer.body["id"] for answer in mix.answers if answer.status == 201]
    # What the updates that succeeded wrote, by item: two may be under way at once, so the one
    # that finished last need not be the one that won, but one of them must have.
    written: dict[int, set[str]] = {}
    for answer in answers:
        if answer.call == "PATCH /items/" and answer.status == 200:
            written.setdefault(answer.body["id"], set()).add(answer.body["description"])
    listed = list_all(base)
    if listed is None:
        mix.problems.append("the items could not be listed afterwards")
        return mix
    if sorted(item["id"] for item in listed) != sorted(made):
        mix.problems.append(f"{len(made)} items created, {len(listed)} listed")
    mix.problems += [
        f"item {item['id']} holds {item['description']!r}, not one of {written.get(item['id'])}"
        for item in listed
        if item["description"] not in written.get(item["id"], {None})
    ]
    return mix


def list_all(base: str) -> list[dict[str, Any]] | None:
    """Every item, page by page; None if a page fails."""
    items: list[dict[str, Any]] = []
    path: str | None = "/items?limit=100"
    while path:
        answer = call(base, "GET", path)
        if answer.status != 200:
            return None
        page = answer.body
        items += page["items"]
        path = f"/items?limit=100&cursor={page['next_cursor']}" if page["next_cursor"] else None
    return items
