"""Load generators from outside Python: wrk for throughput at saturation, hey for latency at a
fixed rate. Both run pinned to the core the services do not use."""

from __future__ import annotations

import os
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

SCRIPTS = Path(__file__).parent / "wrk"
LOAD_CORE = "1"
CONNECTIONS = 32  # requests in flight at saturation


@dataclass
class Endpoint:
    name: str
    script: str  # for wrk, in wrk/
    method: str  # for hey
    path: str
    body: str | None = None


# {deep}: where the deep page starts, as each app names it (see `deep` in run.py).
ENDPOINTS = [
    Endpoint("GET /items/{id}", "get_item.lua", "GET", "/items/5000"),
    Endpoint("GET /items?limit=50", "list_items.lua", "GET", "/items?limit=50"),
    Endpoint("GET /items deep page", "deep_page.lua", "GET", "/items?limit=50&{deep}"),
    Endpoint("POST /items", "create_item.lua", "POST", "/items", '{"title": "Benchmark item"}'),
    Endpoint(
        "PATCH /items/{id}", "update_item.lua", "PATCH", "/items/5000", '{"description": "x"}'
    ),
]


@dataclass
class Sample:
    rps: float
    p50_ms: float
    p99_ms: float
    errors: int


def _milliseconds(value: str, unit: str) -> float:
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def saturate(
    base: str,
    endpoint: Endpoint,
    seconds: int,
    env: dict[str, str],
    headers: dict[str, str],
    connections: int = CONNECTIONS,
) -> Sample:
    """Requests per second, and latency, with `connections` requests always in flight, each
    with `headers`; `env` gives the wrk scripts the number of items (BENCH_ITEMS) and the deep
    page (BENCH_DEEP)."""
    command = ["taskset", "-c", LOAD_CORE, "wrk", "-t1", f"-c{connections}", f"-d{seconds}s"]
    command += [f"-H{name}: {value}" for name, value in headers.items()]
    command += ["--latency", "-s", str(SCRIPTS / endpoint.script), base]
    out = subprocess.run(
        command, capture_output=True, text=True, check=True, env=os.environ | env
    ).stdout
    latency = dict(re.findall(r"^\s+(50|99)%\s+([\d.]+\w+)", out, re.MULTILINE))
    p50, p99 = (re.fullmatch(r"([\d.]+)(\w+)", latency[p]) for p in ("50", "99"))
    assert p50, out
    assert p99, out
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    socket = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    errors = int(non_2xx.group(1)) if non_2xx else 0
    errors += sum(map(int, socket.groups())) if socket else 0
    rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
    assert rps, out
    return Sample(
        float(rps.group(1)), _milliseconds(*p50.groups()), _milliseconds(*p99.groups()), errors
    )


def at_rate(
    base: str,
    endpoint: Endpoint,
    rate: float,
    seconds: int,
    deep: str,
    headers: dict[str, str],
    workers: int = 8,
) -> Sample:
    """Latency at a fixed rate of `rate` requests per second (hey's -q is per worker), each
    request with `headers`."""
    command = ["taskset", "-c", LOAD_CORE, "hey", "-z", f"{seconds}s", "-c", str(workers)]
    for name, value in headers.items():
        command += ["-H", f"{name}: {value}"]
    command += ["-q", f"{max(rate / workers, 1):.1f}", "-m", endpoint.method]
    if endpoint.body:
        command += ["-T", "application/json", "-d", endpoint.body]
    out = subprocess.run(
        [*command, base + endpoint.path.format(deep=deep)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    latency = dict(re.findall(r"(50|99)%% in ([\d.]+) secs".replace("%%", "%"), out))
    statuses = re.findall(r"\[(\d{3})\]\s+(\d+) responses", out)
    failures = re.findall(r"^\s+\[(\d+)\]\s+(?!\d+ responses)", out, re.MULTILINE)
    errors = sum(int(n) for code, n in statuses if not code.startswith("2"))
    errors += sum(int(n) for n in failures)
    rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
    assert rps, out
    assert latency, out
    return Sample(
        float(rps.group(1)), float(latency["50"]) * 1000, float(latency["99"]) * 1000, errors
    )
