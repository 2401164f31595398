"""The one description of a deployment: what runs where, at what size, and what it costs to run.

``capplan.deploy.build`` fills a :class:`Deployment` from a sized tier, its forecast and a price book;
``capplan.cost.bill.bill_deployment`` prices its :class:`Charge` lines and ``capplan.render`` writes
its files. Every charge names the rendered resource it pays for (``rendered``: ``path#locator``) or
says it is managed outside the manifests (``managed``), so the bill and the files can be compared.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

MANAGED = "managed, outside the manifests"


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)  # .inf and .nan are no one's numbers


class Pod(_Frozen):
    """A workload's pods (Kubernetes) or containers (compose), with what each one asks for."""

    name: str
    kind: Literal["Deployment", "StatefulSet", "service"]
    rendered: str = Field(description="file#Kind/name that defines it")
    replicas_min: int = Field(ge=0)
    replicas_max: int = Field(ge=0)
    cpu_request_m: int = Field(ge=1)
    cpu_limit_m: int = Field(ge=1)
    memory_request_mib: int = Field(ge=1)
    memory_limit_mib: int = Field(ge=1)
    disk_gib: int = Field(0, ge=0, description="persistent volume per replica")
    node_group: str = "app"
    zone_spread: bool = False
    one_per_node: bool = False
    sidecar: bool = Field(False, description="an Istio sidecar is injected (its requests are added in packing)")
    namespace: str = "librechat"
    image: str = ""


class NodeGroup(_Frozen):
    name: str
    instance_row: str
    instance_type: str
    nodes_min: int = Field(ge=1)
    nodes_max: int = Field(ge=1)
    disk_gib: int = Field(ge=1, description="root / OS disk per node")
    role: Literal["app", "data", "host"] = "app"
    rendered: str
    schedulable_cpu_m: int = Field(description="per node, after kube/system reserve, eviction and DaemonSets")
    schedulable_memory_mib: int
    pods_per_node: int


class Charge(_Frozen):
    """One thing to price: ``quantity`` of price row ``row_id`` (see capplan.cost.bill.bill_deployment)."""

    component: str
    row_id: str
    quantity: Decimal = Field(ge=0, description="hourly rows: resources running all month; GB-month / GB /"
                              " per-unit rows: the monthly amount; GB-hour rows: GB held all month")
    what: str = Field(description="how the quantity was reached, for the bill's description")
    rendered: str | None = Field(None, description="file#locator of the rendered resource it pays for")
    managed: str | None = Field(None, description="the managed service or usage it pays for, when not rendered")
    variable: bool = False
    spot_eligible: bool = Field(False, description="stateless nodes a spot purchase may discount")

    @model_validator(mode="after")
    def _named(self) -> Charge:
        if (self.rendered is None) == (self.managed is None):
            raise ValueError("a charge names either the rendered resource or the managed service it pays for")
        return self

    @property
    def resource(self) -> str:
        return self.rendered if self.rendered is not None else f"{MANAGED}: {self.managed}"


class Deployment(_Frozen):
    """Everything about one tier on one provider that the bill and the files must agree on."""

    tier: str
    provider: str
    region: str
    regions: int = Field(ge=1)
    platform: Literal["kubernetes", "compose"]
    zones: int = Field(ge=1)
    users: int = Field(ge=1)
    pods: tuple[Pod, ...]
    node_groups: tuple[NodeGroup, ...]
    charges: tuple[Charge, ...]
    llm_model: str | None = None
    llm_input_tokens: int = 0
    llm_output_tokens: int = 0
    mongo_mode: Literal["managed", "self_hosted"]
    mongo_shards: int = Field(ge=1)
    mongo_members: int = Field(ge=1)
    redis_mode: Literal["managed", "self_hosted", "none"]
    redis_row: str | None = None
    redis_nodes: int = 0
    search: bool
    mesh: bool
    aks_tier: Literal["Free", "Standard"] | None = None
    hpa_memory: bool = False
    peak_streams: int = Field(0, ge=0, description="open SSE streams at the simulated peak, all replicas")
    notes: tuple[str, ...] = ()

    def pod(self, name: str) -> Pod | None:
        return next((p for p in self.pods if p.name == name), None)

    def group(self, name: str) -> NodeGroup | None:
        return next((g for g in self.node_groups if g.name == name), None)
