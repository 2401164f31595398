"""The analytic screen: the closed-form pass that sizes runs and names the bottleneck."""

from pathlib import Path

import pytest

from capplan.analytic import mg1_pk
from capplan.model.loader import load_scenario, load_tier
from capplan.screen import screen
from capplan.sim.build import build_network, compile_network
from capplan.sim.spec import Op
from edits import workload_with

TEXTBOOK = Path(__file__).resolve().parents[1] / "scenarios" / "textbook"


def test_one_fcfs_server_waits_by_pollaczek_khinchine():
    """One FCFS server with non-exponential service: the screen's wait is P-K's (M/M/1's formula
    would give 0.6 / 0.4 = 1.5 s here instead of 3.75 s)."""
    net = compile_network(load_scenario(TEXTBOOK / "mg1-gamma.yaml"))
    got = screen(net).response["job"]
    assert got == pytest.approx(mg1_pk(0.6, 1.0, 2.0).w, rel=1e-9)
    assert got == pytest.approx(1.0 + 3.75, rel=1e-9)


def test_a_fifo_loop_adds_one_wait_per_await():
    """On a FIFO loop every awaited Redis command or query is followed by a turn of the loop (a visit
    with no work: the callback queues behind what is ready); the screen charges P-K's mean wait at
    each visit, with the second moment of everything the loop serves."""
    tier = load_tier("tier2")
    fifo = build_network(tier, workload_with(cpu__event_loop="fifo"), 3000)
    shared = build_network(tier, workload_with(cpu__event_loop="shared"), 3000)
    s_fifo, s_shared = screen(fifo), screen(shared)
    # the same work either way: the same utilization of the loop
    assert s_fifo.utilization["api.cpu"] == pytest.approx(s_shared.utilization["api.cpu"], rel=1e-3)
    for net, turns in ((fifo, True), (shared, False)):
        io = {i for i, st in enumerate(net.stations) if st.kind in ("cache", "database")}
        cpu = next(i for i, st in enumerate(net.stations) if st.name == "api.cpu")
        read = next(c for c in net.classes if c.name == "api_read").route
        awaited = [k for k, step in enumerate(read) if step.op == Op.SERVE and step.target in io]
        assert len(awaited) == 3   # the rate-limit counter; then a Redis hit or the query
        for k in awaited:
            nxt = read[k + 1]
            followed = nxt.op == Op.SERVE and nxt.target == cpu and nxt.dist.mean == 0.0
            assert followed is turns, (net.stations[read[k].target].name, turns)
    # and an API read waits longer: three queues to pass instead of one shared core
    assert s_fifo.response["api_read"] > s_shared.response["api_read"]
