"""The month with autoscaling next to the month at fixed peak size, line by line.

The fixed bill is the peak sizing's (``capplan cost``): every line runs 730 hours. With the HPA and
the cluster autoscaler the app node group moves: its nodes (and their root disks) are billed for the
node-hours the simulated profile used, as a month of such days (or weeks); and the metrics line
pays for the API pods the HPA ran on average (each pod's series), not for its floor. Every other
line (databases, Redis, load balancers, the control plane, traffic) is the same in both, and says so.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from capplan.day.run import DayResult
from capplan.deploy.build import metrics_series, series_per_replica

HOURS_PER_MONTH = Decimal(730)
CENT = Decimal("0.01")


@dataclass(frozen=True)
class CostLine:
    component: str
    price_row_id: str
    unit: str
    unit_price_usd: Decimal
    fixed_quantity: Decimal
    fixed_usd: Decimal
    autoscaled_quantity: Decimal
    autoscaled_usd: Decimal
    why: str                        # how the autoscaled quantity was reached ("same" when unchanged)

    @property
    def saving_usd(self) -> Decimal:
        return self.fixed_usd - self.autoscaled_usd


@dataclass(frozen=True)
class DayCost:
    lines: list[CostLine]
    fixed_nodes: int
    mean_nodes: Decimal             # the app group's time-average node count over the profile

    @property
    def fixed_usd(self) -> Decimal:
        return sum((line.fixed_usd for line in self.lines), Decimal(0))

    @property
    def autoscaled_usd(self) -> Decimal:
        return sum((line.autoscaled_usd for line in self.lines), Decimal(0))

    @property
    def saving_usd(self) -> Decimal:
        return self.fixed_usd - self.autoscaled_usd


def _app_group(deployment):
    app = next((g for g in deployment.node_groups if g.role == "app"), None)
    if app is None:
        raise ValueError("the deployment has no app node group (compose plans do not autoscale)")
    return app


def _moves(deployment) -> set[tuple[str, str]]:
    """(component, price row) of the charges for the app node group: its nodes and their disks."""
    marker = f"#nodegroup/{_app_group(deployment).name}"
    return {(c.component, c.row_id) for c in deployment.charges if (c.rendered or "").endswith(marker)}


def _metrics_line(auto, auto_deployment, api_pod: str, day: DayResult) -> tuple[Decimal, Decimal, str]:
    """(quantity, $ a month, why) of the autoscaled plan's metrics line with the API pods' series at
    the day's mean pod count (Ready or starting: a started pod is scraped) instead of the floor's."""
    api = next(p for p in auto_deployment.pods if p.name == api_pod)
    floor = metrics_series(auto_deployment.pods)
    mean_pods = Decimal(sum(m.pods_ready + m.pods_starting for m in day.minutes)) / Decimal(len(day.minutes))
    series = Decimal(floor) + (mean_pods - api.replicas_min) * series_per_replica(api)
    ratio = series / Decimal(floor)
    why = (f"mean {mean_pods.quantize(Decimal('0.01'))} API pods (the HPA's, floor {api.replicas_min}) x "
           f"{series_per_replica(api)} series each: {series.quantize(Decimal(1)):,} series")
    return (auto.quantity * ratio).quantize(Decimal("0.001")), (auto.monthly_usd * ratio).quantize(CENT, ROUND_HALF_UP), why


def compare(fixed_bill, fixed_deployment, auto_bill, auto_deployment, day: DayResult, metrics_row: str,
            api_pod: str) -> DayCost:
    """The fixed-peak bill against the autoscaled plan's, whose app node group (nodes and root disks)
    is billed at the profile's mean node count instead of its minimum all month, and whose metrics
    line (price row ``metrics_row``) at the mean number of ``api_pod`` replicas."""
    app = _app_group(auto_deployment)
    fixed_moving, auto_moving = _moves(fixed_deployment), _moves(auto_deployment)
    mean_nodes = Decimal(repr(day.node_seconds)) / Decimal(repr(day.seconds))
    ratio = mean_nodes / Decimal(app.nodes_min)
    hours = (Decimal(repr(day.seconds)) / Decimal(3600)).normalize()
    node_hours = day.node_hours().quantize(Decimal("0.1"), ROUND_HALF_UP)
    why = (f"{node_hours} node-hours in {hours:f} h: mean {mean_nodes.quantize(Decimal('0.01'))} nodes all month "
           f"(the peak sizing keeps {_app_group(fixed_deployment).nodes_min})")
    lines = []
    auto_lines = {(i.component, i.price_row_id): i for i in auto_bill.lines if i.scope == "infrastructure"}
    for item in fixed_bill.lines:
        if item.scope != "infrastructure":
            continue
        key = (item.component, item.price_row_id)
        if key in fixed_moving:
            # the same component of the autoscaled plan (its node type may differ: the cheapest at its minimum)
            auto = next((a for k, a in auto_lines.items() if k in auto_moving and k[0] == item.component), None)
            if auto is None:
                raise ValueError(f"the autoscaled plan has no {item.component} line")
            auto_lines.pop((auto.component, auto.price_row_id))
            lines.append(CostLine(component=item.component, price_row_id=item.price_row_id, unit=item.unit,
                                  unit_price_usd=item.unit_price_usd, fixed_quantity=item.quantity,
                                  fixed_usd=item.monthly_usd,
                                  autoscaled_quantity=(auto.quantity * ratio).quantize(Decimal("0.001")),
                                  autoscaled_usd=(auto.monthly_usd * ratio).quantize(CENT, ROUND_HALF_UP),
                                  why=why if auto.price_row_id == item.price_row_id
                                  else f"{why}; on {auto.price_row_id} at ${auto.unit_price_usd}/{auto.unit}"))
            continue
        auto = auto_lines.pop(key, None)
        if auto is not None and item.price_row_id == metrics_row:
            quantity, usd, metrics_why = _metrics_line(auto, auto_deployment, api_pod, day)
            lines.append(CostLine(component=item.component, price_row_id=item.price_row_id, unit=item.unit,
                                  unit_price_usd=item.unit_price_usd, fixed_quantity=item.quantity,
                                  fixed_usd=item.monthly_usd, autoscaled_quantity=quantity, autoscaled_usd=usd,
                                  why=metrics_why))
            continue
        same = auto is not None and auto.quantity == item.quantity and auto.monthly_usd == item.monthly_usd
        lines.append(CostLine(component=item.component, price_row_id=item.price_row_id, unit=item.unit,
                              unit_price_usd=item.unit_price_usd, fixed_quantity=item.quantity,
                              fixed_usd=item.monthly_usd,
                              autoscaled_quantity=auto.quantity if auto else Decimal(0),
                              autoscaled_usd=auto.monthly_usd if auto else Decimal(0),
                              why="same" if same else "the autoscaled plan's own line"))
    for auto in auto_lines.values():      # a line only the autoscaled plan has
        moving = (auto.component, auto.price_row_id) in auto_moving
        q, usd = (auto.quantity * ratio, (auto.monthly_usd * ratio).quantize(CENT)) if moving else (auto.quantity, auto.monthly_usd)
        lines.append(CostLine(component=auto.component, price_row_id=auto.price_row_id, unit=auto.unit,
                              unit_price_usd=auto.unit_price_usd, fixed_quantity=Decimal(0), fixed_usd=Decimal(0),
                              autoscaled_quantity=q.quantize(Decimal("0.001")), autoscaled_usd=usd,
                              why=why if moving else "only in the autoscaled plan"))
    return DayCost(lines=lines, fixed_nodes=_app_group(fixed_deployment).nodes_min, mean_nodes=mean_nodes)
