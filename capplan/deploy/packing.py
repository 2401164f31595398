"""Pods onto nodes: how many nodes of a type a set of pods needs, the way the scheduler places them.

First-fit decreasing over CPU, memory and pod slots, per zone: a workload spread over zones with
``maxSkew: 1`` and ``DoNotSchedule`` (the API Deployment) needs room for ceil(replicas / zones) pods in
EVERY zone, so each zone is packed with its share and the node count is the busiest zone's times the
zones (node groups span the zones evenly: EKS/GKE/AKS balance them). Pods that are not spread go to
the zone with the most room, so the count never assumes the scheduler does better than it does.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from capplan.deploy.platform import Resources
from capplan.errors import CapplanError


@dataclass(frozen=True)
class PodShape:
    """``count`` pods of one workload with these requests (sidecars included)."""

    name: str
    count: int
    cpu_m: int
    memory_mib: int
    zone_spread: bool = False
    one_per_node: bool = False     # required pod anti-affinity on the host name (database members)


def _fits(free: list[int], pod: PodShape) -> bool:
    return free[0] >= pod.cpu_m and free[1] >= pod.memory_mib and free[2] >= 1


def nodes_needed(pods: list[PodShape], node: Resources, zones: int) -> int:
    """Nodes of schedulable capacity ``node`` (DaemonSets already taken off) that hold ``pods``."""
    if zones < 1:
        raise CapplanError("must be at least 1", field="zones")
    for pod in pods:
        if pod.count and not (pod.cpu_m <= node.cpu_m and pod.memory_mib <= node.memory_mib and node.pods >= 1):
            raise CapplanError(f"a {pod.name} pod ({pod.cpu_m}m CPU, {pod.memory_mib} MiB) does not fit a node with "
                               f"{node.cpu_m}m CPU and {node.memory_mib} MiB schedulable", field="--instance")
    per_zone: list[list[list[int]]] = [[] for _ in range(zones)]   # zone -> nodes -> [cpu, mem, pods] free
    items: list[tuple[PodShape, int]] = []   # (pod, zone or -1 for any)
    for pod in pods:
        if pod.zone_spread:
            share = math.ceil(pod.count / zones)
            items += [(pod, z) for z in range(zones) for _ in range(share)]
        else:
            items += [(pod, -1)] * pod.count
    # biggest first (by the scarcer of CPU and memory relative to the node), spread pods before free ones
    items.sort(key=lambda it: (it[1] < 0, -max(it[0].cpu_m / node.cpu_m, it[0].memory_mib / node.memory_mib),
                               it[0].name))
    placed: dict[tuple[int, int], set[str]] = {}
    for pod, zone in items:
        candidates = [zone] if zone >= 0 else sorted(range(zones), key=lambda z: (len(per_zone[z]), z))
        done = False
        for z in candidates:
            for index, free in enumerate(per_zone[z]):
                if _fits(free, pod) and not (pod.one_per_node and pod.name in placed.get((z, index), set())):
                    free[0] -= pod.cpu_m
                    free[1] -= pod.memory_mib
                    free[2] -= 1
                    placed.setdefault((z, index), set()).add(pod.name)
                    done = True
                    break
            if done:
                break
        if not done:
            z = candidates[0]
            per_zone[z].append([node.cpu_m - pod.cpu_m, node.memory_mib - pod.memory_mib, node.pods - 1])
            placed.setdefault((z, len(per_zone[z]) - 1), set()).add(pod.name)
    busiest = max((len(nodes) for nodes in per_zone), default=0)
    return max(1, busiest) * zones
