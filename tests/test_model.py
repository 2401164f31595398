"""Input models: units, distributions, tiers, workloads and their one-line errors."""

import math

import numpy as np
import pytest
from pydantic import ValidationError

from capplan.model.distributions import Dist
from capplan.model.loader import load_tier, load_workload
from capplan.model.tier import Tier
from capplan.sim.sampling import DistSum, batch_sampler
from capplan.units import parse_duration, parse_fraction, parse_memory_mib
from edits import workload_with


@pytest.mark.parametrize("text,seconds", [("500ms", 0.5), ("2s", 2.0), ("15min", 900.0), ("1h", 3600.0),
                                          ("8us", 8e-6), (3, 3.0), ("1.5", 1.5)])
def test_durations(text, seconds):
    assert parse_duration(text) == pytest.approx(seconds)


def test_memory_and_shares():
    assert parse_memory_mib("2Gi") == 2048 and parse_memory_mib("512Mi") == 512
    assert parse_memory_mib("1G") == pytest.approx(1e9 / 2**20)
    assert parse_fraction("70%") == pytest.approx(0.7) and parse_fraction(0.25) == 0.25
    for bad in ("soon", True, "2 parsecs"):
        with pytest.raises(ValueError):
            parse_duration(bad)


@pytest.mark.parametrize("kind,cv", [("exponential", 1.0), ("deterministic", 0.0), ("gamma", 0.5), ("gamma", 2.0),
                                     ("lognormal", 0.8), ("erlang", 0.5)])
def test_samplers_match_mean_and_cv(kind, cv):
    dist = Dist(kind=kind, mean=2.0, cv=cv)
    draw = batch_sampler(dist, np.random.default_rng(3))
    values = np.array([draw() for _ in range(200_000)])
    assert values.mean() == pytest.approx(2.0, rel=0.02)
    assert values.std() / values.mean() == pytest.approx(cv, abs=0.03 if cv < 1.5 else 0.1)


def test_sum_of_distributions():
    total = DistSum([Dist(mean=0.04), Dist(kind="deterministic", mean=0.01)])
    assert total.mean == pytest.approx(0.05)
    draw = batch_sampler(total, np.random.default_rng(1))
    assert np.mean([draw() for _ in range(100_000)]) == pytest.approx(0.05, rel=0.02)


@pytest.mark.parametrize("fields,message", [({"kind": "gamma", "mean": 1, "cv": -0.5}, "cv"),
                                            ({"kind": "exponential", "mean": 1, "cv": 2}, "cv"),
                                            ({"kind": "erlang", "mean": 1, "cv": 0.6}, "whole number"),
                                            ({"kind": "lognormal", "mean": 1}, "cv"),
                                            ({"kind": "weibull", "mean": 1}, "kind"),
                                            ({"mean": -1}, "mean")])
def test_bad_distributions(fields, message):
    with pytest.raises(ValidationError) as err:
        Dist.model_validate(fields)
    assert message in str(err.value)


def test_every_bundled_tier_and_the_workload_load():
    workload = load_workload()
    assert math.isclose(workload.mean_stream_seconds(), 11.0)
    for name in ("current", "tier1", "tier2", "tier3", "microservices", "tier1-no-queue", "tier2-as-written"):
        tier = load_tier(name)
        assert tier.source and tier.claimed_users.min >= 0
    for name in ("seed-limits", "reasoning"):
        assert load_workload(name).name == name


def test_one_demand_shape_sets_the_peak_and_the_month():
    """3,000 users x 50% a day x 20 messages: 30,000 a day, 15% in the busiest hour, 21.7 days a month."""
    w = load_workload()
    assert math.isclose(w.peak_messages_per_second(3000), 30_000 * 0.15 / 3600)
    assert math.isclose(w.messages_per_month(3000), 30_000 * 21.7)
    # session users: the peak rate x (think 60 s + a turn: 60 ms CPU + 11 s stream; the title call of a
    # new conversation runs in the background)
    turn = 0.040 + 2 * 0.010 + 11.0
    assert math.isclose(w.nominal_turn_seconds(), turn)
    assert w.session_users(3000) == math.ceil(1.25 * (60.0 + turn))


def test_input_tokens_grow_with_the_turn_and_stop_at_the_context_window():
    """History is resent every turn: turn k sends 800 + 150 k + 500 (k - 1) tokens; conversations
    end after a turn with probability 0.3, so E[k] = 1 / 0.3 and E[input] = 300 + 650 / 0.3."""
    w = load_workload()
    assert w.input_tokens_at_turn(1) == 950 and w.input_tokens_at_turn(4) == 800 + 600 + 1500
    assert math.isclose(w.mean_input_tokens(), 300 + 650 / 0.3, rel_tol=1e-9)
    small = workload_with(llm__prompt__context_window=2000)
    assert small.input_tokens_at_turn(50) == 2000 - 500    # pruned to leave room for the answer


def test_pool_per_process_multiplies_by_processes():
    data = load_tier("tier2").model_dump()
    assert load_tier("tier2").warnings() == []
    data["services"][0]["replicas"] = 20        # the seed's HPA maximum
    tier = Tier.model_validate(data)
    assert tier.mongo_connections() == 20 * 500
    assert any("per Node process" in w for w in tier.warnings())


def test_several_replicas_without_redis_are_flagged():
    data = load_tier("current").model_dump()
    data["services"][0]["replicas"] = 3
    assert any("USE_REDIS" in w for w in Tier.model_validate(data).warnings())


def test_each_request_kind_needs_one_service():
    data = load_tier("tier1").model_dump()
    data["services"][0]["handles"] = ["message", "api_read", "refresh"]  # nobody holds the streams
    with pytest.raises(ValidationError) as err:
        Tier.model_validate(data)
    assert "stream" in str(err.value)


def test_model_package_never_imports_the_simulator():
    """Imports point one way: capplan.sim compiles and runs the model; the model describes only."""
    import ast
    from pathlib import Path

    import capplan.model

    for path in Path(capplan.model.__file__).parent.glob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else (
                [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            for name in names:
                assert not name.startswith(("capplan.sim", "capplan.screen", "capplan.forecast")), \
                    f"{path.name} imports {name}"
