"""What a forecast says when it found no steady state: the warning names the direction it saw."""

from dataclasses import replace

from functools import cache

from capplan.forecast import RunSettings, _warnings, forecast_tiers
from capplan.model.loader import load_tier, load_workload
from capplan.report.json import tier_dict
from capplan.report.table import simulate_table


@cache
def _stable():
    return forecast_tiers([load_tier("tier2")], load_workload(), 3000,
                          RunSettings(replications=2, seed=1, duration=120.0, warmup=30.0))[0]


def _no_steady_state(growth: float):
    """The same forecast as if MSER had found no steady state, the number present moving by ``growth``."""
    return replace(_stable(), verdict="unstable", stationary=False, growth=growth, over_capacity={})


def _unsettled(growth: float):
    return [w for w in _warnings(load_tier("tier2"), _no_steady_state(growth), 1.0, {}, {})
            if w.startswith("unstable")]


def _p95_cell(f) -> str:
    labels, cells = (list(column.cells) for column in simulate_table([f]).columns)
    return cells[labels.index("API latency p95")]


def test_a_run_whose_population_grows_is_a_lower_bound():
    (warning,) = _unsettled(0.25)
    assert "kept growing (+25% over the measured window)" in warning and "lower bounds" in warning


def test_a_run_whose_population_fell_is_not_called_growing():
    """At the edge of capacity a run can still be draining what its start piled up (-36% over the
    window at 30,000 users on a FIFO loop): that is no steady state, but it is not growth either."""
    (warning,) = _unsettled(-0.36)
    assert "growing" not in warning and "lower bound" not in warning
    assert "no steady state" in warning and "-36%" in warning and "--duration" in warning


def test_the_table_and_json_say_lower_bound_only_for_growth():
    growing, draining = _no_steady_state(0.25), _no_steady_state(-0.36)
    p95 = _stable().api_latency.p95.mean
    assert not growing.unsettled and draining.unsettled
    assert _p95_cell(growing).startswith("> ") and _p95_cell(growing).endswith(", growing")
    assert _p95_cell(draining) == f"{p95 * 1000:.0f} ms, unsettled"
    grown, drained = tier_dict(growing)["api_latency_s"], tier_dict(draining)["api_latency_s"]
    assert grown["p95"] is None and grown["growing"] is True and grown["lower_bound"]["p95"] > 0
    assert drained["p95"] is None and drained["growing"] is False and "lower_bound" not in drained
    assert drained["unsettled"]["p95"] == grown["lower_bound"]["p95"]
