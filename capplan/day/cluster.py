"""The API Deployment's pods and the app node group over time: what the scheduler and the cluster
autoscaler do with the replica counts the HPA sets.

A pod is Pending until a node has room for it (the same first-fit packing the bill's node count
uses), then Starting (image pull, Node start, readiness probe) and then Ready: only Ready pods are
in the Service's endpoints. Scaling down removes Pending pods first, then Starting, then the newest
Ready ones (a ReplicaSet deletes unready and younger pods first). The cluster autoscaler scans
every ``scan_s``: Pending pods make it provision the nodes they need (ready after
``node_provision_s``); a node unneeded for ``scale_down_unneeded_s``, and not within
``scale_down_delay_after_add_s`` of the last addition, is drained (its pods evicted within the
PodDisruptionBudget, each starting again elsewhere) and removed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

OFF, PENDING, STARTING, READY = 0, 1, 2, 3


@dataclass(frozen=True)
class Timings:
    pod_startup_s: float
    node_provision_s: float
    scan_s: float
    scale_down_unneeded_s: float
    scale_down_delay_after_add_s: float
    metrics_resolution_s: float
    hpa_sync_s: float


@dataclass
class Cluster:
    """``slots`` pod slots (the HPA's maximum); ``nodes_for(pods)`` is the app group's node count
    for that many API pods (its other pods included); ``max_nodes`` the group's autoscaler limit."""

    slots: int
    nodes_for: Callable[[int], int]
    max_nodes: int
    timings: Timings
    state: list[int] = field(default_factory=list)
    ready_at: list[float] = field(default_factory=list)
    since: list[float] = field(default_factory=list)      # when each pod last changed state
    nodes: int = 0                                        # ready nodes
    provisioning: list[float] = field(default_factory=list)  # ready times of nodes on their way
    last_add: float = -1e18
    unneeded_since: float | None = None

    def start(self, pods: int, now: float = 0.0) -> None:
        """``pods`` Ready pods on the nodes they need (the day starts from a settled cluster)."""
        self.state = [READY if k < pods else OFF for k in range(self.slots)]
        self.ready_at = [now] * self.slots
        self.since = [now] * self.slots
        self.nodes = self.nodes_for(pods)

    def count(self, *states: int) -> int:
        return sum(1 for s in self.state if s in states)

    @property
    def wanted(self) -> int:
        return self.count(PENDING, STARTING, READY)

    def ready(self) -> list[int]:
        return [k for k, s in enumerate(self.state) if s == READY]

    def lose(self, pods: list[int], nodes: int, now: float) -> None:
        """``pods`` and ``nodes`` are gone at once (a crash, a lost node or zone). The ReplicaSet asks
        for as many new pods straight away, in other slots; they start where there is room."""
        wanted = self.wanted
        for k in pods:
            self.state[k] = OFF
            self.since[k] = now
        self.nodes = max(0, self.nodes - nodes)
        self.scale_to(wanted, now, avoid=set(pods))

    def scale_to(self, n: int, now: float, avoid: set[int] = frozenset()) -> list[int]:
        """Set the Deployment's replicas to ``n``; returns the pods removed (they drain). New pods
        take free slots other than ``avoid`` first (a lost pod's slot is its corpse's for a while)."""
        have = self.wanted
        removed = []
        if n > have:
            order = [k for k in range(self.slots) if k not in avoid] + [k for k in range(self.slots) if k in avoid]
            for k in order:
                if have >= n:
                    break
                if self.state[k] == OFF:
                    self.state[k] = PENDING
                    self.since[k] = now
                    have += 1
        elif n < have:
            for rank in (PENDING, STARTING, READY):
                pods = [k for k, s in enumerate(self.state) if s == rank]
                pods.sort(key=lambda k: -self.since[k])      # the youngest first
                for k in pods:
                    if have <= n:
                        break
                    self.state[k] = OFF
                    self.since[k] = now
                    removed.append(k)
                    have -= 1
        self.place(now)
        return removed

    def place(self, now: float) -> None:
        """Pending pods that fit on the ready nodes start."""
        for k in range(self.slots):
            if self.state[k] != PENDING:
                continue
            placed = self.count(STARTING, READY) + 1
            if self.nodes_for(placed) > self.nodes:
                break
            self.state[k] = STARTING
            self.since[k] = now
            self.ready_at[k] = now + self.timings.pod_startup_s

    def tick(self, now: float) -> list[int]:
        """Pods and nodes whose time has come; returns the pods that became Ready."""
        arrived = [t for t in self.provisioning if t <= now]
        if arrived:
            self.nodes += len(arrived)
            self.provisioning = [t for t in self.provisioning if t > now]
            self.place(now)
        became = []
        for k in range(self.slots):
            if self.state[k] == STARTING and self.ready_at[k] <= now:
                self.state[k] = READY
                self.since[k] = now
                became.append(k)
        return became

    def drain(self, nodes_before: int, min_available: int, now: float) -> list[int]:
        """A node the autoscaler removes is drained first: its share of the Ready pods is evicted
        (they finish their requests, then start again elsewhere), no more at once than the
        PodDisruptionBudget's ``min_available`` allows. Returns the pods evicted."""
        ready = [k for k in range(self.slots) if self.state[k] == READY]
        share = -(-len(ready) // max(nodes_before, 1))
        evict = sorted(ready, key=lambda k: -self.since[k])[:max(0, min(share, len(ready) - min_available))]
        for k in evict:
            self.state[k] = STARTING
            self.since[k] = now
            self.ready_at[k] = now + self.timings.pod_startup_s
        return evict

    def autoscale_nodes(self, now: float) -> None:
        """One scan of the cluster autoscaler."""
        need = self.nodes_for(self.wanted)
        coming = self.nodes + len(self.provisioning)
        if self.count(PENDING) and need > coming:
            add = min(need, self.max_nodes) - coming
            if add > 0:
                self.provisioning += [now + self.timings.node_provision_s] * add
                self.last_add = now
            self.unneeded_since = None
            return
        if need < self.nodes and not self.provisioning:
            if self.unneeded_since is None:
                self.unneeded_since = now
            t = self.timings
            if (now - self.unneeded_since >= t.scale_down_unneeded_s
                    and now - self.last_add >= t.scale_down_delay_after_add_s):
                self.nodes = need
                self.unneeded_since = None
        else:
            self.unneeded_since = None
