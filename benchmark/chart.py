"""Draw the benchmark's results, as run.py records them in results.json, as an SVG chart, and
print them as the Markdown table of the READMEs.

    uv run python benchmark/chart.py [--results RESULTS.json] [--svg CHART.svg]

For each combination, two panels: per endpoint, the service's throughput as a fraction of the
ceiling's and of the framework bound's (with the targets), at the smallest table measured;
and what a request costs at the largest table against the smallest (the target: at most 1.2x).
"""

from __future__ import annotations

import argparse
import io
import json
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results.json"
SVG = HERE / "results.svg"
# The lowest fraction of the ceiling each endpoint should reach (benchmark/README.md).
TARGETS = {"GET /items/{id}": 0.3, "POST /items": 0.25, "PATCH /items/{id}": 0.25}
SCALE_TARGET = 1.2


def rps(sizes: dict[str, Any], size: str, endpoint: str, app: str) -> float:
    return float(sizes[size][endpoint][app]["saturated"]["rps"])


def sizes_of(combination: dict[str, Any]) -> tuple[str, str]:
    """The smallest and the largest table measured."""
    measured = sorted(combination["sizes"], key=int)
    return measured[0], measured[-1]


def fractions(combination: dict[str, Any]) -> dict[str, dict[str, float]]:
    """Per endpoint, at the smallest size: the service against the ceiling, the framework bound
    and, for SQLite, the ceiling that reads in the event loop."""
    small, _ = sizes_of(combination)
    sizes = combination["sizes"]
    out = {}
    for endpoint, apps in sizes[small].items():
        service = rps(sizes, small, endpoint, "service")
        out[endpoint] = {
            bound: service / rps(sizes, small, endpoint, bound)
            for bound in ("ceiling", "framework", "loop-ceiling")
            if bound in apps
        }
    return out


def costs(combination: dict[str, Any]) -> dict[str, dict[str, float]]:
    """Per endpoint and app: a request's cost at the largest size against the smallest."""
    small, large = sizes_of(combination)
    sizes = combination["sizes"]
    return {
        endpoint: {
            app: rps(sizes, small, endpoint, app) / rps(sizes, large, endpoint, app) for app in apps
        }
        for endpoint, apps in sizes[small].items()
    }


def short(name: str) -> str:
    """database:sqlite-session:sync -> sqlite, sync"""
    return ", ".join(part.split(":")[1] for part in name.split("-session"))


def draw(results: dict[str, Any], svg: Path) -> None:
    import matplotlib

    matplotlib.use("svg")
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D

    plt.rcParams.update({"svg.fonttype": "none", "svg.hashsalt": "benchmark", "font.size": 9})
    combinations = results["combinations"]
    figure, axes = plt.subplots(
        len(combinations), 2, figsize=(11, 2.4 * len(combinations) + 0.6), squeeze=False
    )
    for n, (row, (name, combination)) in enumerate(
        zip(axes, sorted(combinations.items()), strict=True)
    ):
        small, large = sizes_of(combination)
        endpoints = list(combination["sizes"][small])
        positions = range(len(endpoints))
        by_endpoint = fractions(combination)

        left = row[0]
        height = 0.38
        ceiling = [by_endpoint[e]["ceiling"] for e in endpoints]
        framework = [by_endpoint[e]["framework"] for e in endpoints]
        left.barh([p - height / 2 for p in positions], ceiling, height, color="C0")
        left.barh([p + height / 2 for p in positions], framework, height, color="C1")
        for p, endpoint in enumerate(endpoints):
            if endpoint in TARGETS:
                target = TARGETS[endpoint]
                left.plot([target, target], [p - 0.45, p + 0.05], color="black", linewidth=1.5)
            left.text(ceiling[p] + 0.01, p - height / 2, f"{ceiling[p]:.2f}x", va="center")
            left.text(framework[p] + 0.01, p + height / 2, f"{framework[p]:.2f}x", va="center")
            if endpoint == "GET /items/{id}" and "loop-ceiling" in by_endpoint[endpoint]:
                on_loop = by_endpoint[endpoint]["loop-ceiling"]
                left.plot(on_loop, p - height / 2, marker="|", color="red", markersize=12)
        left.set_yticks(list(positions), endpoints)
        left.invert_yaxis()
        left.set_xlim(0, 1)
        left.set_title(f"{short(name)}: the service's throughput, {int(small):,} items", loc="left")

        right = row[1]
        cost = costs(combination)
        for k, app in enumerate(("service", "ceiling")):
            values = [cost[e][app] for e in endpoints]
            offsets = [p + (k - 0.5) * height for p in positions]
            right.barh(offsets, values, height, color=("C2", "C7")[k])
            for offset, value in zip(offsets, values, strict=True):
                right.text(value + 0.01, offset, f"{value:.2f}x", va="center")
        right.axvline(1.0, color="grey", linewidth=0.8)
        right.axvline(SCALE_TARGET, color="black", linestyle="--", linewidth=1)
        right.set_yticks(list(positions), [""] * len(endpoints))
        right.invert_yaxis()
        right.set_xlim(0, 1.9)
        right.set_title(f"a request's cost at {int(large):,} items / at {int(small):,}", loc="left")
        if n == 0:
            left.legend(
                handles=[
                    Line2D([], [], color="C0", linewidth=6, label="x ceiling"),
                    Line2D([], [], color="C1", linewidth=6, label="x framework bound"),
                    Line2D([], [], color="black", label="target"),
                    Line2D(
                        [],
                        [],
                        color="red",
                        marker="|",
                        linestyle="",
                        markersize=12,
                        label="x ceiling reading in the loop",
                    ),
                ],
                loc="lower right",
                fontsize=7,
            )
            right.legend(
                handles=[
                    Line2D([], [], color="C2", linewidth=6, label="service"),
                    Line2D([], [], color="C7", linewidth=6, label="ceiling"),
                    Line2D([], [], color="black", linestyle="--", label="target (at most)"),
                ],
                loc="center right",
                fontsize=7,
            )
    figure.text(0.01, 0.005, machine_line(results), fontsize=7)
    figure.tight_layout(rect=(0, 0.02, 1, 1))
    drawn = io.StringIO()
    figure.savefig(drawn, format="svg", metadata={"Date": None})
    plt.close(figure)
    # Without the spaces matplotlib leaves at the ends of lines of path data, which linters strip.
    svg.write_text("".join(line.rstrip() + "\n" for line in drawn.getvalue().splitlines()))


def machine_line(results: dict[str, Any]) -> str:
    runs = {(c["measured"], c["machine"], c["python"]) for c in results["combinations"].values()}
    return "; ".join(f"{day}, {cpu}, Python {python}" for day, cpu, python in sorted(runs))


def table(results: dict[str, Any]) -> str:
    """The README's table: per combination, GET by id and POST against the ceiling and the
    framework bound, half-load p99, and the cost of each endpoint at the larger table."""
    lines = [
        "| combination | items | GET /items/{id} req/s (x ceiling, x framework) | POST /items"
        " req/s (x ceiling) | half-load p99 of GET | cost at the larger table, worst endpoint |",
        "| --- | --- | ---: | ---: | ---: | ---: |",
    ]
    for name, combination in sorted(results["combinations"].items()):
        small, large = sizes_of(combination)
        sizes = combination["sizes"]
        get, post = "GET /items/{id}", "POST /items"
        by_endpoint = fractions(combination)
        worst = max(costs(combination).items(), key=lambda item: item[1]["service"])
        loop = by_endpoint[get].get("loop-ceiling")
        on_loop = f"; {loop:.2f}x the loop ceiling" if loop else ""
        half = sizes[small][get]["service"]["half"]["p99_ms"]
        lines.append(
            f"| {name} | {int(small):,} and {int(large):,}"
            f" | {rps(sizes, small, get, 'service'):,.0f} ({by_endpoint[get]['ceiling']:.2f}x,"
            f" {by_endpoint[get]['framework']:.2f}x{on_loop})"
            f" | {rps(sizes, small, post, 'service'):,.0f} ({by_endpoint[post]['ceiling']:.2f}x)"
            f" | {half:.1f} ms | {worst[1]['service']:.2f}x ({worst[0]}) |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--results", type=Path, default=RESULTS)
    parser.add_argument("--svg", type=Path, default=SVG)
    args = parser.parse_args()
    results = json.loads(args.results.read_text())
    draw(results, args.svg)
    print(table(results))
    print(f"\nMeasured: {machine_line(results)}. Chart: {args.svg}")


if __name__ == "__main__":
    main()
