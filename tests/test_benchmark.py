"""The benchmark's published figures are the ones it recorded: the chart in benchmark/ and the
tables in both READMEs are drawn and printed from benchmark/results.json by chart.py."""

import json
import sys
from pathlib import Path

import pytest

TEMPLATE = Path(__file__).resolve().parent.parent
BENCHMARK = TEMPLATE / "benchmark"
sys.path.insert(0, str(BENCHMARK))

import chart  # noqa: E402


@pytest.mark.slow
def test_the_chart_is_drawn_from_the_recorded_results(tmp_path: Path) -> None:
    results = json.loads(chart.RESULTS.read_text())
    drawn = tmp_path / "results.svg"
    chart.draw(results, drawn)
    assert drawn.read_text() == chart.SVG.read_text(), (
        "benchmark/results.svg is not what chart.py draws from benchmark/results.json:"
        " run `uv run python benchmark/chart.py`"
    )
    for name in results["combinations"]:
        assert f"{chart.short(name)}: the service" in drawn.read_text()


def test_the_readmes_show_the_recorded_results() -> None:
    results = json.loads(chart.RESULTS.read_text())
    table = chart.table(results)
    for readme in (TEMPLATE / "README.md", BENCHMARK / "README.md"):
        text = readme.read_text()
        assert table in text, f"{readme.name}: paste the table `benchmark/chart.py` prints"
        assert "results.svg" in text
        assert chart.machine_line(results) in text
