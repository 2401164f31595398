"""A day through the dynamic engine: the load follows the profile, the HPA reacts as Kubernetes does."""

import math

from capplan.day.cluster import Timings
from capplan.day.hpa import HPASpec, ScalingPolicy, ScalingRules
from capplan.day.run import messages_per_second, simulate_day
from capplan.model.loader import load_tier, load_workload
from capplan.model.profile import Profile

W = load_workload()
T = Timings(pod_startup_s=45, node_provision_s=120, scan_s=10, scale_down_unneeded_s=600,
            scale_down_delay_after_add_s=600, metrics_resolution_s=15, hpa_sync_s=15)
HPA = HPASpec(min_replicas=2, max_replicas=10, target_utilization=0.7,
              scale_up=ScalingRules(0, "Max", (ScalingPolicy("Pods", 4, 15), ScalingPolicy("Percent", 100, 15))),
              scale_down=ScalingRules(300, "Min", (ScalingPolicy("Pods", 1, 60),)))


def flat(spike_at=None, factor=4.0, minutes=40):
    spikes = [{"at": spike_at, "duration": minutes * 60, "factor": factor}] if spike_at is not None else []
    return Profile.model_validate({"name": "flat", "days": [{"name": "d", "hours": [1] * 24}], "spikes": spikes})


def run(profile, until, users=3000, request=0.1, seed=3):
    # a small CPU request makes the HPA's metric move at a load the test can afford
    return simulate_day(load_tier("tier2"), W, users, profile, HPA, T, lambda pods: math.ceil(pods / 2), 10,
                        request, seed, until=until)


def _seconds(event: str) -> float:
    h, m, s = (int(x) for x in event.split(":", 3)[:3])
    return h * 3600 + m * 60 + s


def test_a_step_in_load_scales_out_after_a_sync_and_a_start_up_not_at_once():
    step = 20 * 60
    r = run(flat(spike_at=step, factor=6.0), until=45 * 60, request=0.2)
    before = [m for m in r.minutes if m.t + 60 <= step]
    assert all(m.pods_ready == 2 for m in before) and all(m.cpu_utilization < 0.7 for m in before)
    ups = [e for e in r.events if "HPA" in e and _seconds(e) >= step]
    first = ups[0]
    assert int(first.split("-> ")[1].split()[0]) > int(first.split("HPA ")[1].split()[0])
    decided = _seconds(first)
    # the step's CPU reaches the HPA through a metrics window that starts after it: not before the
    # next scrape after the step, and at the first sync after that
    assert step + T.metrics_resolution_s <= decided <= step + T.metrics_resolution_s + T.hpa_sync_s
    # the new pods serve only after their start-up (plus a node's provisioning when the nodes are full)
    ready = next(m for m in r.minutes if m.t >= step and m.pods_ready > 2)
    assert ready.t + 60 >= decided + T.pod_startup_s
    # and the scale-out brings the CPU back under the target's tolerance band
    late = [m.cpu_utilization for m in r.minutes if step + 15 * 60 <= m.t and m.t + 60 <= step + 40 * 60]
    assert max(m.pods_ready for m in r.minutes) >= 4
    assert sum(late) / len(late) < HPA.target_utilization * (1 + HPA.tolerance)


def test_the_population_follows_the_profile_and_carries_its_messages():
    p = flat()
    r = run(p, until=60 * 60)
    rate = messages_per_second(W, 3000, p, 1800.0, load_tier("tier2").regions.busiest_share)
    turn = W.think_time.mean + W.nominal_turn_seconds()
    assert all(m.users == math.ceil(rate * turn) for m in r.minutes)
    # messages carried in the hour after the first ten minutes against the offered rate (Poisson-like
    # count: within 4 standard deviations)
    carried = sum(m.messages for m in r.minutes[10:])
    expected = rate * 50 * 60
    assert abs(carried - expected) < 4 * math.sqrt(expected) + 0.05 * expected


def test_the_same_seed_gives_the_same_day():
    a, b = run(flat(spike_at=600), until=20 * 60), run(flat(spike_at=600), until=20 * 60)
    assert a.minutes == b.minutes and a.events == b.events and a.node_seconds == b.node_seconds


def test_after_a_spike_nodes_go_after_ten_unneeded_minutes_and_the_drain_keeps_the_budget():
    """A 10-minute spike from 00:05: nodes are added, then, once the pods are back to the minimum,
    removed no sooner than 10 minutes later; the drain evicts no more than the PodDisruptionBudget
    allows (minAvailable 1 of 2 pods) and nothing fails for it."""
    r = run(flat(spike_at=5 * 60, factor=6.0, minutes=10), until=50 * 60, request=0.2)
    down = next(e for e in r.events if "cluster autoscaler" in e and "-> 1 nodes" in e)
    assert _seconds(down) >= 15 * 60 + T.scale_down_unneeded_s
    drain = next(e for e in r.events if "node drain" in e)
    assert "evicts 1 pod(s)" in drain and "minAvailable 1" in drain
    assert all(m.failed == 0 for m in r.minutes)
    assert all(m.pods_ready >= 1 for m in r.minutes)
