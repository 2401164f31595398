"""The Horizontal Pod Autoscaler's decision, as the Kubernetes controller makes it (autoscaling/v2).

One call of :meth:`HorizontalPodAutoscaler.sync` is one pass of the controller (every 15 s by
default, ``--horizontal-pod-autoscaler-sync-period``), following kube-controller-manager's
``pkg/controller/podautoscaler``:

1. The metric's proposal (replica_calculator.go, ``calcPlainMetricReplicas``): the usage ratio is
   the ready pods' average utilization over the target. Within the tolerance (0.1) of 1 nothing
   changes; otherwise ``ceil(ratio x ready pods)``. When scaling up while some pods are not ready
   yet, those count as using nothing, and the ratio is taken again over all of them (no scale-up
   if that reverses the direction or falls inside the tolerance).
2. Below ``minReplicas`` or above ``maxReplicas`` the bound is the answer outright.
3. Stabilization (horizontal.go, ``stabilizeRecommendationWithBehaviors``): every proposal is
   remembered; a scale-up goes no higher than the lowest proposal of the scale-up window, a
   scale-down no lower than the highest proposal of the scale-down window (300 s by default).
4. Rate (``convertDesiredReplicasWithBehaviorRate``): each policy allows, from the replicas at the
   start of its period (now less the changes made within it), so many pods or such a percentage
   more (up: ``ceil``) or fewer (down: truncated); ``selectPolicy: Max`` takes the policy allowing
   the largest change, ``Min`` the smallest, ``Disabled`` none. Then clamped to min and max.

The parameters are the rendered HorizontalPodAutoscaler's (:meth:`HPASpec.from_context`), so what is
simulated is what ``capplan render`` writes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Literal

TOLERANCE = 0.1          # --horizontal-pod-autoscaler-tolerance default
SYNC_PERIOD_S = 15.0     # --horizontal-pod-autoscaler-sync-period default


@dataclass(frozen=True)
class ScalingPolicy:
    kind: Literal["Pods", "Percent"]
    value: int
    period_s: float


@dataclass(frozen=True)
class ScalingRules:
    stabilization_s: float
    select: Literal["Max", "Min", "Disabled"]
    policies: tuple[ScalingPolicy, ...]


# Kubernetes' defaults when a behavior is not set (pkg/apis/autoscaling/v2/defaults.go)
DEFAULT_SCALE_UP = ScalingRules(0, "Max", (ScalingPolicy("Percent", 100, 15), ScalingPolicy("Pods", 4, 15)))
DEFAULT_SCALE_DOWN = ScalingRules(300, "Max", (ScalingPolicy("Percent", 100, 15),))


@dataclass(frozen=True)
class HPASpec:
    min_replicas: int
    max_replicas: int
    target_utilization: float            # averageUtilization / 100: CPU used over CPU requested
    scale_up: ScalingRules = DEFAULT_SCALE_UP
    scale_down: ScalingRules = DEFAULT_SCALE_DOWN
    tolerance: float = TOLERANCE
    sync_s: float = SYNC_PERIOD_S

    def __post_init__(self):
        if not 1 <= self.min_replicas <= self.max_replicas:
            raise ValueError(f"need 1 <= minReplicas <= maxReplicas, got {self.min_replicas} and {self.max_replicas}")
        if not self.target_utilization > 0:
            raise ValueError("the target utilization must be positive")

    @classmethod
    def from_context(cls, ctx) -> "HPASpec":
        """The HorizontalPodAutoscaler ``templates/k8s/hpa.yaml.j2`` renders from a RenderContext."""
        return cls(
            min_replicas=ctx.hpa_min_replicas, max_replicas=ctx.hpa_max_replicas,
            target_utilization=ctx.hpa_cpu_target_pct / 100.0,
            scale_up=ScalingRules(ctx.hpa_scale_up_stabilization_s, "Max", (
                ScalingPolicy("Pods", ctx.hpa_scale_up_pods, ctx.hpa_scale_up_period_s),
                ScalingPolicy("Percent", ctx.hpa_scale_up_pct, ctx.hpa_scale_up_period_s))),
            scale_down=ScalingRules(ctx.hpa_scale_down_stabilization_s, "Min", (
                ScalingPolicy("Pods", ctx.hpa_scale_down_pods, ctx.hpa_scale_down_period_s),)))


def metric_proposal(current: int, ready: int, unready: int, utilization: float, target: float,
                    tolerance: float = TOLERANCE) -> int:
    """Replicas the CPU metric asks for: ``utilization`` is the ready pods' average (used / requested)."""
    if ready <= 0:
        return current                   # no metrics yet: the controller leaves the scale alone
    ratio = utilization / target
    if not (unready > 0 and ratio > 1.0):
        if abs(1.0 - ratio) <= tolerance:
            return current
        return math.ceil(ratio * ready)
    # a scale-up with pods still starting: they count as using 0% of their request
    new_ratio = utilization * ready / (target * (ready + unready))
    if abs(1.0 - new_ratio) <= tolerance or new_ratio < 1.0:
        return current
    return max(current, math.ceil(new_ratio * (ready + unready)))


@dataclass
class HorizontalPodAutoscaler:
    """The controller's memory for one HPA: past proposals and past scale events."""

    spec: HPASpec
    recommendations: list[tuple[float, int]] = field(default_factory=list)   # (time, proposal)
    up_events: list[tuple[float, int]] = field(default_factory=list)         # (time, pods added)
    down_events: list[tuple[float, int]] = field(default_factory=list)       # (time, pods removed)

    def sync(self, now: float, current: int, ready: int, unready: int, utilization: float) -> int:
        """The replica count the controller sets at ``now`` (== ``current`` when it leaves it)."""
        s = self.spec
        if not self.recommendations:
            # a new controller starts its scale-down window at the current scale
            self.recommendations.append((now, current))
        if current > s.max_replicas:
            desired = s.max_replicas
        elif current < s.min_replicas:
            desired = s.min_replicas
        else:
            proposal = metric_proposal(current, ready, unready, utilization, s.target_utilization, s.tolerance)
            desired = self._stabilize(now, current, proposal)
            desired = self._rate_limit(now, current, desired)
        if desired > current:
            self.up_events.append((now, desired - current))
        elif desired < current:
            self.down_events.append((now, current - desired))
        return desired

    def _stabilize(self, now: float, current: int, proposal: int) -> int:
        s = self.spec
        up, down = proposal, proposal
        for t, rec in self.recommendations:
            if t > now - s.scale_up.stabilization_s:
                up = min(up, rec)
            if t > now - s.scale_down.stabilization_s:
                down = max(down, rec)
        keep = max(s.scale_up.stabilization_s, s.scale_down.stabilization_s)
        self.recommendations = [(t, r) for t, r in self.recommendations if t > now - keep]
        self.recommendations.append((now, proposal))
        result = current
        if result < up:
            result = up
        if result > down:
            result = down
        return result

    def _changed_within(self, events: list[tuple[float, int]], now: float, period: float) -> int:
        return sum(n for t, n in events if t > now - period)

    def _rate_limit(self, now: float, current: int, desired: int) -> int:
        s = self.spec
        if desired > current:
            limit = self._limit(now, current, s.scale_up, up=True)
            return min(desired, max(limit, current), s.max_replicas)
        if desired < current:
            limit = self._limit(now, current, s.scale_down, up=False)
            return max(desired, min(limit, current), s.min_replicas)
        return desired

    def _limit(self, now: float, current: int, rules: ScalingRules, up: bool) -> int:
        if rules.select == "Disabled":
            return current
        proposals = []
        for p in rules.policies:
            start = (current - self._changed_within(self.up_events, now, p.period_s)
                     + self._changed_within(self.down_events, now, p.period_s))
            if p.kind == "Pods":
                proposals.append(start + p.value if up else start - p.value)
            elif up:
                proposals.append(math.ceil(start * (1 + p.value / 100)))
            else:
                proposals.append(int(start * (1 - p.value / 100)))
        # "Max" is the policy allowing the biggest change: the most replicas up, the fewest down
        if (rules.select == "Max") == up:
            return max(proposals)
        return min(proposals)
