"""Pods and nodes over time: the scheduler's placement and the cluster autoscaler."""

from capplan.day.cluster import OFF, PENDING, READY, STARTING, Cluster, Timings

T = Timings(pod_startup_s=45, node_provision_s=120, scan_s=10, scale_down_unneeded_s=600,
            scale_down_delay_after_add_s=600, metrics_resolution_s=15, hpa_sync_s=15)


def two_pods_a_node(pods: int) -> int:
    return max(1, -(-pods // 2))


def test_a_pod_with_room_starts_and_is_ready_after_its_start_up():
    c = Cluster(slots=8, nodes_for=two_pods_a_node, max_nodes=4, timings=T)
    c.start(3)                                # 3 pods on 2 nodes: one free slot
    assert c.nodes == 2 and c.count(READY) == 3
    c.scale_to(4, now=100.0)
    assert c.count(STARTING) == 1 and c.count(PENDING) == 0
    assert c.tick(144.0) == [] and c.count(READY) == 3
    assert c.tick(145.0) == [3] and c.count(READY) == 4


def test_a_pod_without_room_waits_for_a_new_node():
    c = Cluster(slots=8, nodes_for=two_pods_a_node, max_nodes=4, timings=T)
    c.start(4)
    c.scale_to(6, now=0.0)
    assert c.count(PENDING) == 2
    c.autoscale_nodes(10.0)                   # one scan: one more node for the two pending pods
    assert c.provisioning == [130.0]
    c.tick(129.0)
    assert c.count(PENDING) == 2
    c.tick(130.0)                             # the node joins: both start
    assert c.nodes == 3 and c.count(STARTING) == 2
    c.tick(175.0)
    assert c.count(READY) == 6


def test_the_node_group_maximum_holds():
    c = Cluster(slots=20, nodes_for=two_pods_a_node, max_nodes=4, timings=T)
    c.start(2)
    c.scale_to(12, now=0.0)
    c.autoscale_nodes(0.0)
    assert c.nodes + len(c.provisioning) == 4
    c.tick(200.0)
    assert c.count(READY, STARTING) == 8 and c.count(PENDING) == 4


def test_scaling_down_removes_pending_then_starting_then_the_youngest_ready():
    c = Cluster(slots=8, nodes_for=two_pods_a_node, max_nodes=2, timings=T)
    c.start(3)
    c.scale_to(4, now=50.0)                   # slot 3 starting
    c.scale_to(6, now=60.0)                   # slots 4, 5 pending (no room: max 2 nodes)
    assert [c.state[k] for k in range(6)] == [READY, READY, READY, STARTING, PENDING, PENDING]
    assert sorted(c.scale_to(3, now=70.0)) == [3, 4, 5]
    c.scale_to(4, now=80.0)
    c.tick(125.0)
    c.scale_to(3, now=200.0)                  # the pod that became ready last goes first
    assert c.state[3] == OFF and c.count(READY) == 3


def test_a_node_goes_only_after_it_was_unneeded_for_ten_minutes_and_long_after_the_last_addition():
    c = Cluster(slots=8, nodes_for=two_pods_a_node, max_nodes=4, timings=T)
    c.start(6)
    assert c.nodes == 3
    c.scale_to(2, now=0.0)
    c.autoscale_nodes(10.0)
    c.autoscale_nodes(600.0)
    assert c.nodes == 3
    c.autoscale_nodes(610.0)                  # unneeded since t=10 for 600 s
    assert c.nodes == 1
    # an addition holds scale-down off for scale_down_delay_after_add_s
    c.scale_to(4, now=700.0)
    c.autoscale_nodes(700.0)
    c.tick(820.0)
    c.scale_to(2, now=830.0)
    for t in range(840, 1300, 10):
        c.autoscale_nodes(float(t))
    assert c.nodes == 2                       # unneeded from 840: not before 1440 (and the add at 700 holds it to 1300)
    c.autoscale_nodes(1440.0)
    assert c.nodes == 1


def test_a_drained_node_evicts_its_share_of_pods_within_the_disruption_budget():
    c = Cluster(slots=8, nodes_for=two_pods_a_node, max_nodes=4, timings=T)
    c.start(4)                                # 4 pods on 2 nodes
    # the PodDisruptionBudget keeps 3 available: one of the node's two pods may go at once
    assert len(c.drain(nodes_before=2, min_available=3, now=100.0)) == 1
    assert c.count(READY) == 3 and c.count(STARTING) == 1
    c.tick(145.0)
    assert c.count(READY) == 4
    # with no budget the node's whole share goes (and starts again elsewhere)
    assert len(c.drain(nodes_before=2, min_available=0, now=200.0)) == 2
    assert c.count(READY) == 2 and c.count(STARTING) == 2
