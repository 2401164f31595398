"""The HPA controller's decisions against sequences worked by hand from the Kubernetes algorithm."""

import pytest

from capplan.day.hpa import (DEFAULT_SCALE_DOWN, DEFAULT_SCALE_UP, HorizontalPodAutoscaler, HPASpec, ScalingPolicy,
                             ScalingRules, metric_proposal)

# what capplan render writes (templates/k8s/hpa.yaml.j2 with RenderContext's defaults)
RENDERED_UP = ScalingRules(0, "Max", (ScalingPolicy("Pods", 4, 15), ScalingPolicy("Percent", 100, 15)))
RENDERED_DOWN = ScalingRules(300, "Min", (ScalingPolicy("Pods", 1, 60),))


def spec(**kw):
    args = dict(min_replicas=2, max_replicas=20, target_utilization=0.7, scale_up=RENDERED_UP, scale_down=RENDERED_DOWN)
    args.update(kw)
    return HPASpec(**args)


def test_the_tolerance_band_leaves_the_scale_alone():
    # 0.75 / 0.7 = 1.071: within 10% of the target, no change
    assert metric_proposal(4, 4, 0, 0.75, 0.7) == 4
    # 0.78 / 0.7 = 1.114: ceil(1.114 x 4) = ceil(4.457) = 5
    assert metric_proposal(4, 4, 0, 0.78, 0.7) == 5
    # 0.62 / 0.7 = 0.886: ceil(0.886 x 4) = ceil(3.54) = 4 (outside the band, but rounds back up)
    assert metric_proposal(4, 4, 0, 0.62, 0.7) == 4
    # 0.5 / 0.7 = 0.714: ceil(2.86) = 3
    assert metric_proposal(4, 4, 0, 0.5, 0.7) == 3


def test_pods_still_starting_count_as_idle_on_a_scale_up():
    # 2 ready at 90% of 4: ratio 1.286 > 1 with 2 unready, so again over all 4 with the 2 at 0%:
    # 0.9 x 2 / (0.7 x 4) = 0.643 < 1: no scale-up (the new pods will take the load)
    assert metric_proposal(4, 2, 2, 0.9, 0.7) == 4
    # 2 ready at 200%: 2.0 x 2 / (0.7 x 4) = 1.43 -> ceil(1.43 x 4) = ceil(5.71) = 6
    assert metric_proposal(4, 2, 2, 2.0, 0.7) == 6
    # scaling down, unready pods are ignored: 0.35 / 0.7 = 0.5 -> ceil(0.5 x 2) = 1
    assert metric_proposal(4, 2, 2, 0.35, 0.7) == 1


def test_a_scale_up_is_limited_by_the_rendered_policies():
    hpa = HorizontalPodAutoscaler(spec())
    # ratio 300 / 70 = 4.29: the metric asks ceil(4.29 x 2) = 9; Pods allows 2 + 4 = 6, Percent 2 x 2 = 4;
    # selectPolicy Max takes 6
    assert hpa.sync(0, current=2, ready=2, unready=0, utilization=3.0) == 6
    # 15 s later the event at t=0 has left the 15 s period: from 6, Pods allows 10, Percent 12 -> 12;
    # the metric (the 2 old pods still at 300%, 4 starting at 0%) asks 3.0 x 2 / (0.7 x 6) = 1.43
    # -> ceil(1.43 x 6) = ceil(8.57) = 9
    assert hpa.sync(15, current=6, ready=2, unready=4, utilization=3.0) == 9
    # within the same period a second scale-up is limited by what the period already added
    hpa2 = HorizontalPodAutoscaler(spec())
    assert hpa2.sync(0, 2, 2, 0, 3.5) == 6
    # at t=10 the period [t-15, t] holds +4: it started at 2, so Pods allows 6 and Percent 4: no more
    assert hpa2.sync(10, 6, 6, 0, 3.5) == 6
    # and never past maxReplicas
    hpa3 = HorizontalPodAutoscaler(spec(max_replicas=5))
    assert hpa3.sync(0, 2, 2, 0, 3.5) == 5


def test_a_scale_down_waits_for_the_stabilization_window_then_goes_one_pod_a_minute():
    """Load falls to under half the target at t=0 with 10 replicas: every proposal from then on is 5,
    but the window (300 s) still holds the starting scale of 10 until t=300; then the Pods policy
    (1 per 60 s, Min) removes one pod a minute: 9 at 300, 8 at 360, 7 at 420, 6 at 480, 5 at 540."""
    hpa = HorizontalPodAutoscaler(spec())
    current, seen = 10, {}
    busy = 3.3                  # the pods' total CPU (in requests) stays the same as they go: 3.3 / 0.7 -> 5
    for k in range(0, 45):
        t = 15.0 * k
        current = hpa.sync(t, current, current, 0, busy / current)
        seen[t] = current
    assert all(seen[t] == 10 for t in seen if t < 300)
    assert [seen[t] for t in (300, 315, 345, 360, 420, 480, 540, 600)] == [9, 9, 9, 8, 7, 6, 5, 5]


def test_a_brief_dip_inside_the_window_does_not_scale_down():
    hpa = HorizontalPodAutoscaler(spec())
    current = 6
    for k in range(0, 10):
        current = hpa.sync(15.0 * k, current, current, 0, 0.7)
    # two minutes at 20%, then back to the target: the window's earlier proposals of 6 hold the scale
    for k in range(10, 18):
        current = hpa.sync(15.0 * k, current, current, 0, 0.2)
    assert current == 6
    for k in range(18, 40):
        current = hpa.sync(15.0 * k, current, current, 0, 0.7)
    assert current == 6


def test_min_and_max_are_applied_outright():
    hpa = HorizontalPodAutoscaler(spec(min_replicas=3, max_replicas=8))
    assert hpa.sync(0, current=1, ready=1, unready=0, utilization=0.1) == 3
    assert hpa.sync(15, current=12, ready=12, unready=0, utilization=0.7) == 8


def test_kubernetes_defaults_double_or_add_four_every_15_s():
    hpa = HorizontalPodAutoscaler(HPASpec(min_replicas=1, max_replicas=100, target_utilization=0.5))
    assert hpa.spec.scale_up == DEFAULT_SCALE_UP and hpa.spec.scale_down == DEFAULT_SCALE_DOWN
    # ratio 10: from 1, Percent 100 allows 2, Pods 4 allows 5 -> 5; then 10, then 20
    assert hpa.sync(0, 1, 1, 0, 5.0) == 5
    assert hpa.sync(15, 5, 5, 0, 5.0) == 10
    assert hpa.sync(30, 10, 10, 0, 5.0) == 20


def test_the_rendered_hpa_is_what_is_simulated():
    from capplan.render.context import RenderContext
    fields = RenderContext.model_fields
    defaults = {k: f.default for k, f in fields.items() if k.startswith("hpa_")}
    ctx = type("Ctx", (), {**defaults, "hpa_min_replicas": 2, "hpa_max_replicas": 12})()
    s = HPASpec.from_context(ctx)
    assert (s.min_replicas, s.max_replicas, s.target_utilization) == (2, 12, 0.7)
    assert s.scale_up == RENDERED_UP and s.scale_down == RENDERED_DOWN


def test_impossible_bounds_are_refused():
    with pytest.raises(ValueError, match="minReplicas"):
        HPASpec(min_replicas=5, max_replicas=3, target_utilization=0.7)
