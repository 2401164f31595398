"""The engine's stations and streams on cases small enough to work out by hand."""

import numpy as np
import pytest

from capplan.model.distributions import Dist, deterministic
from capplan.sim.engine import run_replication
from capplan.sim.spec import (BOUND, KEYED, PS, ClassSpec, GroupSpec, NetworkSpec, Op, StationSpec, Step,
                              StreamSpec, StreamWork)


def _net(stations, classes, groups=()):
    net = NetworkSpec(name="hand", stations=list(stations), classes=[], groups=list(groups))
    for name, route, interarrival in classes:
        net.classes.append(ClassSpec(name=name, route=route, interarrival=interarrival,
                                     metric=net.metric_index(f"response:{name}")))
    return net


def test_processor_sharing_departures_by_hand():
    """Two jobs reach a PS server together every 100 s, needing 2 s and 4 s: they share it until the
    short one has had its 2 s (t + 4), then the long one finishes alone (t + 6)."""
    every = deterministic(100.0)
    net = _net([StationSpec("cpu", discipline=PS)],
               [("short", [Step(Op.SERVE, 0, deterministic(2.0))], every),
                ("long", [Step(Op.SERVE, 0, deterministic(4.0))], every)])
    rep = run_replication(net, np.random.SeedSequence(1), 1000.0, 50.0, truncate=False)
    assert rep.metrics["response:short"].mean == pytest.approx(4.0, abs=1e-9)
    assert rep.metrics["response:long"].mean == pytest.approx(6.0, abs=1e-9)
    # busy 6 s in every 100 s; completed work 6 s per 100 s
    assert rep.station_util["cpu"][0] == pytest.approx(0.06, rel=1e-6)
    assert rep.station_work["cpu"] == pytest.approx(0.06, rel=0.02)


def test_two_server_processor_sharing_gives_each_job_a_whole_server_until_a_third_arrives():
    every = deterministic(100.0)
    net = _net([StationSpec("cpu", servers=2, discipline=PS)],
               [(f"job{k}", [Step(Op.SERVE, 0, deterministic(3.0))], every) for k in range(3)])
    rep = run_replication(net, np.random.SeedSequence(1), 1000.0, 50.0, truncate=False)
    # three equal jobs share two servers at 2/3 each: all three finish together after 4.5 s
    for k in range(3):
        assert rep.metrics[f"response:job{k}"].mean == pytest.approx(4.5, abs=1e-9)


def _stream_net():
    """One Node process (a PS loop) and a stream: first token after 1 s, 100 tokens at 50 tokens/s,
    25 ms windows, 0.5 ms of the loop per delta."""
    net = NetworkSpec(name="stream", stations=[StationSpec("api.cpu", group=0, discipline=PS, kind="cpu")],
                      classes=[], groups=[GroupSpec("api", replicas=1)])
    stream = StreamSpec(ttft=deterministic(1.0), tokens=deterministic(100.0), token_rate=deterministic(50.0),
                        window_s=0.025, tokens_per_chunk=1.0, slice_deltas=160,
                        work=[StreamWork(0, 0.0005, BOUND)], ttft_metric=net.metric_index("ttft"),
                        gap_metric=net.metric_index("stream_max_gap"), total_metric=net.metric_index("stream_total"),
                        stretch_metric=net.metric_index("stream_stretch"))
    return net, stream


def test_a_stream_on_an_idle_loop_keeps_the_provider_pace():
    """First token after 1 s; 100 tokens at 50 tokens/s in 25 ms windows: min(100, 2 s / 25 ms) = 80
    deltas of 0.5 ms each on the loop. On an idle loop the stream lasts exactly ttft + tokens / rate,
    the first token arrives after one delta's work, and the loop carried 80 x 0.5 ms per stream."""
    net, stream = _stream_net()
    route = [Step(Op.BIND, 0), Step(Op.STREAM, stream=stream)]
    net.classes.append(ClassSpec(name="message", route=route, interarrival=deterministic(20.0),
                                 metric=net.metric_index("response:message")))
    rep = run_replication(net, np.random.SeedSequence(1), 2000.0, 100.0, truncate=False)
    assert rep.metrics["stream_total"].mean == pytest.approx(3.0, abs=1e-9)
    assert rep.metrics["stream_stretch"].maximum == pytest.approx(1.0, abs=1e-9)
    assert rep.metrics["ttft"].mean == pytest.approx(1.0005, abs=1e-9)
    # silences: the first token after 1.0005 s is the longest
    assert rep.metrics["stream_max_gap"].mean == pytest.approx(1.0005, abs=1e-6)
    assert rep.station_work["api.cpu"] == pytest.approx(80 * 0.0005 / 20.0, rel=0.01)
    assert sum(rep.group_mean_streams["api"]) == pytest.approx(3.0 / 20.0, rel=0.01)


def test_a_stream_waits_for_a_busy_loop():
    """A 10 s request arrives on the loop with the stream's first delta: under processor sharing the
    delta's 0.5 ms takes 1 ms, so the first token is 0.5 ms late; nothing else changes."""
    net, stream = _stream_net()
    net.classes.append(ClassSpec(name="message", route=[Step(Op.BIND, 0), Step(Op.STREAM, stream=stream)],
                                 interarrival=deterministic(100.0), metric=net.metric_index("response:message")))
    # the request class arrives 1 s after each message (with its first delta) and needs 10 s of the loop
    net.classes.append(ClassSpec(name="request", route=[Step(Op.BIND, 0), Step(Op.DELAY, dist=deterministic(1.0)),
                                                        Step(Op.SERVE, 0, deterministic(10.0))],
                                 interarrival=deterministic(100.0), metric=net.metric_index("response:request")))
    rep = run_replication(net, np.random.SeedSequence(1), 2000.0, 150.0, truncate=False)
    assert rep.metrics["ttft"].mean == pytest.approx(1.001, abs=1e-6)
    # the request shares the loop with every delta of the slice: it finishes later by the stream's work
    assert rep.metrics["response:request"].mean == pytest.approx(1.0 + 10.0 + 80 * 0.0005, abs=1e-3)
    assert rep.metrics["stream_total"].mean == pytest.approx(3.0, abs=1e-6)


def _node_stream_net(redis_per_delta: float | None):
    """One Node process as Node runs it (a FIFO loop) and a stream as the testbed's mock LLM sends
    it: first token after 1 s, then 40 tokens at 40 tokens/s, each its own delta (deltas 1/39 s
    apart), 3 ms of the loop to read each. With ``redis_per_delta``, each slice then goes through
    Redis (PUBLISH, that long per delta) and the subscriber's callback on the loop (no work)."""
    stations = [StationSpec("api.cpu", group=0, kind="cpu")]
    work = [StreamWork(0, 0.003, BOUND)]
    if redis_per_delta is not None:
        stations.append(StationSpec("redis", kind="cache"))
        work += [StreamWork(1, redis_per_delta, KEYED), StreamWork(0, 0.0, BOUND, turn=True)]
    net = NetworkSpec(name="node", stations=stations, classes=[], groups=[GroupSpec("api", replicas=1)])
    stream = StreamSpec(ttft=deterministic(1.0), tokens=deterministic(40.0), token_rate=deterministic(40.0),
                        window_s=0.001, tokens_per_chunk=1.0, slice_deltas=1, catch_up=True, work=work,
                        ttft_metric=net.metric_index("ttft"), gap_metric=net.metric_index("stream_max_gap"),
                        total_metric=net.metric_index("stream_total"),
                        stretch_metric=net.metric_index("stream_stretch"))
    net.classes.append(ClassSpec(name="message", route=[Step(Op.BIND, 0), Step(Op.STREAM, stream=stream)],
                                 interarrival=deterministic(100.0), metric=net.metric_index("response:message")))
    return net


def test_a_late_callback_reads_every_delta_sent_until_it_runs():
    """A 0.49 s request blocks the loop from t = 1.5 (stream time) to 1.99. Delta 20 (sent at 1 +
    20/39 = 1.5128) queues behind it. Node reads the socket when the callback runs, at 1.99: by then
    deltas 20-38 have come, 19 of them, 57 ms of work (to 2.047). A 10 ms request that arrived at
    1.991 waits behind all of it: it answers at 2.057 (had only delta 20 been read, and the rest
    queued again behind it, at 2.003). The last delta follows (2.057-2.060), when the stream ends."""
    net = _node_stream_net(None)
    every = deterministic(100.0)
    net.classes.append(ClassSpec(name="blocker", route=[Step(Op.DELAY, dist=deterministic(1.5)),
                                                        Step(Op.SERVE, 0, deterministic(0.49))],
                                 interarrival=every, metric=net.metric_index("response:blocker")))
    net.classes.append(ClassSpec(name="probe", route=[Step(Op.DELAY, dist=deterministic(1.991)),
                                                      Step(Op.SERVE, 0, deterministic(0.010))],
                                 interarrival=every, metric=net.metric_index("response:probe")))
    rep = run_replication(net, np.random.SeedSequence(1), 2000.0, 150.0, truncate=False)
    assert rep.metrics["response:probe"].mean == pytest.approx(2.057, abs=1e-6)
    assert rep.metrics["stream_total"].mean == pytest.approx(2.060, abs=1e-6)
    # the loop's work is the same however the deltas are grouped: 40 x 3 ms + 0.49 + 0.010 s
    assert rep.station_work["api.cpu"] == pytest.approx((40 * 0.003 + 0.49 + 0.010) / 100.0, rel=0.02)


def test_the_loop_reads_a_stream_while_its_earlier_deltas_are_still_on_the_way():
    """Each delta is read when it comes (an idle loop, 3 ms, 25.6 ms apart) while PUBLISH takes
    100 ms a delta: Redis, not the reading, sets the pace. Delta k reaches Redis at 1 + k/39 +
    0.003 and leaves it at 1.003 + 0.1 (k + 1), the last (k = 39) at 5.003, when the stream ends.
    The loop makes 80 visits per stream: 40 reads, 40 subscriber callbacks (had each read waited for
    the previous delta to reach the client, it would read 4 at a time and Redis would idle between).
    The first delta's callback, due at 1.103, waits for the read of delta 4 (1.1026-1.1056)."""
    net = _node_stream_net(0.1)
    rep = run_replication(net, np.random.SeedSequence(1), 2000.0, 150.0, truncate=False)
    assert rep.metrics["ttft"].mean == pytest.approx(1 + 4 / 39 + 0.003, abs=1e-6)
    assert rep.metrics["stream_total"].mean == pytest.approx(5.003, abs=1e-6)
    assert rep.station_throughput["api.cpu"] == pytest.approx(80 / 100.0, rel=0.03)
    assert rep.station_work["redis"] == pytest.approx(40 * 0.1 / 100.0, rel=0.03)
    assert rep.station_work["api.cpu"] == pytest.approx(40 * 0.003 / 100.0, rel=0.03)


def test_distributions_are_not_needed_for_exactness():
    """The hand cases above use deterministic times; the same PS station with exponential work keeps
    conservation (entered = completed + rejected + in flight)."""
    net = _net([StationSpec("cpu", discipline=PS)],
               [("job", [Step(Op.SERVE, 0, Dist(kind="exponential", mean=0.8))], Dist(kind="exponential", mean=1.0))])
    rep = run_replication(net, np.random.SeedSequence(3), 5000.0, 100.0)
    assert rep.run_entered == rep.run_completed + rep.run_rejected + rep.run_in_flight
    assert 0.7 < rep.station_util["cpu"][0] < 0.9


def test_processor_sharing_at_a_late_clock_does_not_stall():
    """At t = 1e9 s the clock resolves ~1e-7 s: a job whose remaining work is below that departs
    instead of rescheduling itself at the same instant forever."""
    every = deterministic(1e9)
    net = _net([StationSpec("cpu", discipline=PS)],
               [("short", [Step(Op.SERVE, 0, deterministic(0.3))], every),
                ("long", [Step(Op.SERVE, 0, deterministic(0.7))], every)])
    rep = run_replication(net, np.random.SeedSequence(1), 3.5e9, 1.0, truncate=False)
    assert rep.metrics["response:short"].n == 3
    assert rep.metrics["response:short"].mean == pytest.approx(0.6, abs=1e-6)
    assert rep.metrics["response:long"].mean == pytest.approx(1.0, abs=1e-6)


def _mm1_net(lam: float, mu: float):
    return _net([StationSpec("server")],
                [("job", [Step(Op.SERVE, 0, Dist(kind="exponential", mean=1.0 / mu))],
                  Dist(kind="exponential", mean=1.0 / lam))])


def test_histogram_buffers_stay_bounded_however_long_the_micro_batches(monkeypatch):
    """Memory must not grow with the run length. Samples wait in each histogram's buffer until a
    flush: if flushes only came at micro-batch boundaries, a buffer would hold a micro-batch's samples
    (1/200 of the run). Two micro-batches here stand for a run 100 times as long: ~70,000 samples
    per micro-batch, at 70 arrivals a second after a warm-up of 70,000 arrivals. Every buffer's
    largest length is its length at some flush (the run ends with one)."""
    from capplan.sim import engine, stats

    monkeypatch.setattr(engine, "MICRO_BATCHES", 2)
    largest = [0]
    flush = stats.Histogram.flush

    def counting_flush(self):
        largest[0] = max(largest[0], len(self.buffer))
        flush(self)

    monkeypatch.setattr(stats.Histogram, "flush", counting_flush)
    rep = run_replication(_mm1_net(70.0, 100.0), np.random.SeedSequence(5), 2000.0, 1000.0, truncate=False)
    assert rep.metrics["response:job"].n > 130_000        # every sample binned
    assert largest[0] < 10_000


def test_flush_timing_changes_no_statistic_and_results_repeat(monkeypatch):
    """Flushing buffers at other times bins the same samples: counts, zeros, maxima, quantiles and
    stream arrays are identical, means agree to the last bits; the same seed gives byte-identical
    results (streams and MSER truncation included)."""
    import pickle

    from capplan.sim import engine

    def run():
        net, stream = _stream_net()
        net.classes.append(ClassSpec(name="message", route=[Step(Op.BIND, 0), Step(Op.STREAM, stream=stream)],
                                     interarrival=Dist(kind="exponential", mean=2.0),
                                     metric=net.metric_index("response:message")))
        return run_replication(net, np.random.SeedSequence(3), 10000.0, 0.0)   # MSER cuts 250 s

    first, again = run(), run()
    assert pickle.dumps(first) == pickle.dumps(again)
    assert first.stream_gaps.dtype == np.float32 and len(first.stream_gaps) == first.streams_total > 2000
    monkeypatch.setattr(engine, "FLUSH_ABOVE", 0)     # every buffer at every flush event ...
    monkeypatch.setattr(engine, "FLUSH_HIGH", 10)     # ... and far more flush events
    monkeypatch.setattr(engine, "FLUSH_TARGET", 5)
    monkeypatch.setattr(engine, "FLUSH_LOW", 2)
    other = run()
    assert other.truncated_s == first.truncated_s > 0
    np.testing.assert_array_equal(other.stream_gaps, first.stream_gaps)
    np.testing.assert_array_equal(other.stream_totals, first.stream_totals)
    for name, h in first.metrics.items():
        o = other.metrics[name]
        np.testing.assert_array_equal(o.counts, h.counts)
        assert (o.n, o.zeros, o.maximum) == (h.n, h.zeros, h.maximum)
        assert o.quantile(0.95) == h.quantile(0.95)
        assert o.mean == pytest.approx(h.mean, rel=1e-12)


def test_a_histogram_since_a_snapshot_holds_only_the_later_samples():
    from capplan.sim.stats import Histogram

    rng = np.random.default_rng(4)
    early, late = rng.exponential(1.0, 5000), rng.exponential(10.0, 5000)
    h, alone = Histogram(), Histogram()
    for v in early:
        h.add(float(v))
    snap = h.snapshot()
    for v in late:
        h.add(float(v))
        alone.add(float(v))
    window = h.since(snap)
    assert window.n == 5000 and window.mean == pytest.approx(late.mean())
    assert window.quantile(0.95) == pytest.approx(alone.quantile(0.95))
    assert window.quantile(0.95) > 5 * np.percentile(early, 95)
    # the whole histogram is unchanged by taking a window
    assert h.n == 10000
