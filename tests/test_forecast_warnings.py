"""What a forecast says when it found no steady state: the warning names the direction it saw."""

from dataclasses import replace

from capplan.forecast import RunSettings, _warnings, forecast_tiers
from capplan.model.loader import load_tier, load_workload


def _unsettled(growth: float):
    tier = load_tier("tier2")
    f = forecast_tiers([tier], load_workload(), 3000, RunSettings(replications=2, seed=1, duration=120.0,
                                                                   warmup=30.0))[0]
    # the same forecast as if MSER had found no steady state, the number present moving by `growth`
    f = replace(f, verdict="unstable", stationary=False, growth=growth, over_capacity={})
    return [w for w in _warnings(tier, f, 1.0, {}, {}) if w.startswith("unstable")]


def test_a_run_whose_population_grows_is_a_lower_bound():
    (warning,) = _unsettled(0.25)
    assert "kept growing (+25% over the measured window)" in warning and "lower bounds" in warning


def test_a_run_whose_population_fell_is_not_called_growing():
    """At the edge of capacity a run can still be draining what its start piled up (-36% over the
    window at 30,000 users on a FIFO loop): that is no steady state, but it is not growth either."""
    (warning,) = _unsettled(-0.36)
    assert "growing" not in warning and "lower bound" not in warning
    assert "no steady state" in warning and "-36%" in warning and "--duration" in warning
