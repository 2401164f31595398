"""Compile the model's descriptions into the engine's NetworkSpec.

``build_network`` turns a LibreChat tier + workload + registered users into stations, pools,
replica groups, rate limits and request classes with their routes; ``compile_network`` does the
same for a textbook network. The model package describes; this module (and the rest of
capplan.sim) compiles and runs: imports point from sim to model, never back.
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np

from capplan.errors import CapplanError
from capplan.model.distributions import Dist, deterministic
from capplan.model.network import NetworkModel
from capplan.model.tier import Service, Tier
from capplan.model.workload import Workload
from capplan.sim.sampling import DistSum, batch_sampler
from capplan.sim.spec import (BOUND, FCFS, KEYED, OTHER, PS, CallSpec, ClassSpec, GroupSpec, LimitSpec, NetworkSpec, Op,
                              PoolSpec, ProviderSpec, StationSpec, Step, StreamSpec, StreamWork)


SLICE_SECONDS = 4.0        # a stream's deltas are worked in slices of this much generation at full pace
# On a FIFO event loop a slice is one job that everything behind it waits for, so slices must be as
# small as the loop's real jobs: at most this much CPU (one delta when a delta costs more). Behind
# a busy loop the deltas that arrived meanwhile are read and worked as one job, as Node does.
FIFO_SLICE_CPU = 2e-3
_NO_WORK = deterministic(0.0)  # a callback's turn on a FIFO loop: it waits, its own CPU is counted elsewhere
DELTA_SAMPLES = 20000      # Monte Carlo draws behind E[deltas per answer] (fixed seed: deterministic)


def build_network(tier: Tier, workload: Workload, users: int, scale: float = 1.0) -> NetworkSpec:
    """Compile ``tier`` + ``workload`` at ``users`` registered users into a NetworkSpec.

    The offered peak message rate comes from the workload's demand shape; the closed population of
    session users is the one whose turns, without queueing, send exactly that rate. API reads are a
    Poisson stream at ``api_reads_per_message`` x that rate, JWT refreshes one per session user per
    ``refresh_interval``. ``scale`` (0 < scale <= 1) builds the same tier at that share of the load."""
    if users <= 0:
        raise CapplanError("must be a positive number of registered users", field="--users")
    if not 0 < scale <= 1:
        raise CapplanError(f"must be in (0, 1], got {scale}", field="scale")
    region_users = max(1, round(users * tier.regions.busiest_share))
    rate = workload.peak_messages_per_second(region_users) * scale
    think = workload.think_time.mean
    active = max(1, math.ceil(rate * (think + workload.nominal_turn_seconds()) - 1e-9))
    net = NetworkSpec(name=tier.name, stations=[], classes=[])
    net.notes.update(active_users=str(active), region_users=str(region_users), scale=repr(scale),
                     offered_messages_per_s=repr(rate))
    b = _Builder(net, tier, workload, scale, active)

    api = net.metric_index("api_latency")
    ttft = net.metric_index("ttft")
    for name in ("response:message", "response:api_read", "response:refresh", "provider_wait",
                 "stream_max_gap", "stream_total", "stream_stretch"):
        net.metric_index(name)   # every metric exists even when its class has no traffic

    # -- message turn (closed population) ---------------------------------------------------------
    route: list[Step] = []
    limits = b.limits(active)
    route += [Step(Op.LIMIT, i) for i in limits["message"]]
    route += b.enter_proxy()
    msg_svc = tier.service_for("message")
    route += b.auth_check(msg_svc)
    route += b.bind(msg_svc)
    # One synchronous event-loop turn: request handling and token counting back to back.
    route.append(b.cpu(msg_svc, DistSum([workload.cpu.message, workload.cpu.token_count])))
    route += b.awaited(msg_svc, b.redis_ops())
    # History read then the user message write, on the primary with one pooled connection.
    route += b.db(msg_svc, [(b.primary, workload.mongo.history_read), (b.primary, workload.mongo.write)])
    route += b.publish_event()
    route.append(Step(Op.MARK, api))  # the POST returns the stream id here
    if tier.queue_enabled:
        route.append(Step(Op.ACQUIRE, b.pool("queue.workers", tier.queue.workers, kind="queue")))
    route.append(b.provider_call(chat=True))
    agent = tier.service_for("agent")
    stream_svc = tier.service_for("stream")
    if agent is not None and agent.name != stream_svc.name:
        route += b.bind(agent)
        route.append(b.cpu(agent, workload.cpu.message))
    if stream_svc.name != msg_svc.name or (agent is not None and agent.name != stream_svc.name):
        route += b.bind(stream_svc)
    route.append(Step(Op.STREAM, stream=b.stream_spec(stream_svc, ttft)))
    if tier.queue_enabled:
        route.append(Step(Op.RELEASE, b.pool("queue.workers", tier.queue.workers, kind="queue")))
    if stream_svc.name != msg_svc.name:
        route += b.bind(msg_svc)
    route.append(b.cpu(msg_svc, workload.cpu.token_count))
    extra_writes = max(workload.mongo.writes_per_turn - 1.0, 0.0) + workload.mongo.search_sync_writes
    if extra_writes > 0:
        route += b.db(msg_svc, [(b.primary, workload.mongo.write.scaled(extra_writes))], awaits=max(1, round(extra_writes)))
    route += b.leave_proxy()
    # title generation for new conversations: one extra non-streamed LLM call that runs in the
    # background (the browser polls /api/convos/gen_title): it loads the provider, the app and the
    # database but the user does not wait for it
    title_svc = tier.service_for("title") or msg_svc
    title_block = [b.provider_call(chat=False), Step(Op.DELAY, dist=workload.llm.title_call),
                   *b.bind(title_svc), b.cpu(title_svc, workload.cpu.title),
                   *b.db(title_svc, [(b.primary, workload.mongo.write)])]
    p_new = workload.new_conversation_share
    start = len(route) + 1
    route.append(Step(Op.BRANCH, branches=((p_new, start), (1.0, start + 1))))
    route.append(Step(Op.FORK, route=title_block))
    net.classes.append(ClassSpec(name="message", route=route, population=active, think=workload.think_time,
                                 users=active, metric=net.metric_index("response:message")))

    # -- API reads and JWT refreshes (Poisson): reads in proportion to messages, refreshes to sessions
    read_rate = rate * workload.api_reads_per_message
    if read_rate > 0:
        svc = tier.service_for("api_read")
        r: list[Step] = [Step(Op.LIMIT, i) for i in limits["api"]]
        r += b.enter_proxy() + b.auth_check(svc) + b.bind(svc) + [b.cpu(svc, workload.cpu.api_read)]
        r += b.awaited(svc, b.redis_ops())
        r += b.cached_read(svc)
        r += b.leave_proxy()
        r.append(Step(Op.MARK, api))
        net.classes.append(ClassSpec(name="api_read", route=_expand(r), interarrival=Dist(kind="exponential", mean=1.0 / read_rate),
                                     users=active, metric=net.metric_index("response:api_read")))
    refresh_rate = active / workload.refresh_interval
    svc = tier.service_for("refresh")
    r = [Step(Op.LIMIT, i) for i in limits["api"]]
    r += b.enter_proxy() + b.bind(svc) + [b.cpu(svc, workload.cpu.refresh)]
    if tier.redis.enabled:
        r += b.awaited(svc, b.redis_ops())
    else:
        r += b.db(svc, [(b.reader, workload.mongo.api_read)])
    r += b.leave_proxy()
    r.append(Step(Op.MARK, api))
    net.classes.append(ClassSpec(name="refresh", route=r, interarrival=Dist(kind="exponential", mean=1.0 / refresh_rate),
                                 users=active, metric=net.metric_index("response:refresh")))
    return net


class _Builder:
    """Creates stations, pools, groups and limits on first use and emits route steps."""

    def __init__(self, net: NetworkSpec, tier: Tier, workload: Workload, scale: float, active: int):
        self.net = net
        self.tier = tier
        self.workload = workload
        self.scale = scale
        self.active = active
        self._stations: dict[str, int] = {}
        self._pools: dict[str, int] = {}
        self._groups: dict[str, int] = {}
        mongo = tier.mongo
        self.primary = self.station("mongo.primary", mongo.cores, instances=mongo.shards, kind="database")
        if mongo.read_from_secondaries and mongo.secondaries > 0:
            self.reader = self.station("mongo.secondary", mongo.cores * mongo.secondaries, instances=mongo.shards,
                                       kind="database")
        else:
            self.reader = self.primary
        self.proxy = self.station("proxy", tier.proxy.workers, kind="proxy")

    def station(self, name, servers, instances=1, group=-1, slowdown=1.0, kind="queue", discipline=FCFS) -> int:
        if name not in self._stations:
            self.net.stations.append(StationSpec(name=name, servers=servers, instances=instances, group=group,
                                                 slowdown=slowdown, kind=kind, discipline=discipline))
            self._stations[name] = len(self.net.stations) - 1
        return self._stations[name]

    def pool(self, name, size, instances=1, group=-1, loss=False, kind="pool", queue_limit=None) -> int:
        if name not in self._pools:
            self.net.pools.append(PoolSpec(name=name, size=size, instances=instances, group=group, loss=loss, kind=kind,
                                           queue_limit=queue_limit))
            self._pools[name] = len(self.net.pools) - 1
        return self._pools[name]
    def group(self, svc: Service) -> int:
        if svc.name not in self._groups:
            per_process_memory = svc.memory / svc.processes
            self.net.groups.append(GroupSpec(
                name=svc.name, replicas=svc.replicas * svc.processes, policy=self.tier.proxy.balance,
                memory_limit_mib=per_process_memory, base_memory_mib=svc.base_memory,
                memory_per_stream_mib=self.workload.stream_memory_mib))
            self._groups[svc.name] = len(self.net.groups) - 1
        return self._groups[svc.name]

    def bind(self, svc: Service) -> list[Step]:
        return [Step(Op.BIND, self.group(svc))]

    def cpu(self, svc: Service, dist: Dist) -> Step:
        g = self.group(svc)
        # A Node process is one thread: it uses at most one core, and less when the replica's CPU
        # limit gives each process under a core (CFS throttling stretches its work).
        slowdown = max(1.0, svc.processes / svc.cpu)
        # Work no request explains (timers, GC, scrapes) takes its share first: requests get the rest.
        background = self.workload.cpu.background
        if background > 0:
            slowdown /= 1.0 - background
        # Its event loop interleaves every request's callbacks and every stream's deltas, one
        # server per process: run to completion in order (fifo) or processor sharing (shared).
        st = self.station(f"{svc.name}.cpu", 1, instances=svc.replicas * svc.processes, group=g,
                          slowdown=slowdown, kind="cpu", discipline=FCFS if self.fifo else PS)
        return Step(Op.SERVE, st, dist.scaled(svc.cpu_factor))

    @property
    def fifo(self) -> bool:
        return self.workload.cpu.event_loop == "fifo"

    def loop_turns(self, svc: Service, awaits: int) -> list[Step]:
        """On a FIFO loop, an awaited answer's callback queues behind everything ready: a visit
        with no work of its own (the callbacks' CPU is in the request's figures, as calibrate
        measures them), once per await."""
        if not self.fifo or awaits <= 0:
            return []
        return [self.cpu(svc, _NO_WORK)] * awaits

    def awaited(self, svc: Service, io: list[Step]) -> list[Step]:
        """I/O steps the service's code awaits, then its callback's turn on the loop."""
        return io + self.loop_turns(svc, 1) if io else io

    def db(self, svc: Service, ops: list[tuple[int, Dist]], awaits: int | None = None) -> list[Step]:
        """Queries on one pooled connection, each awaited (``awaits`` loop turns in all, one per
        query unless given)."""
        g = self.group(svc)
        pool = self.pool(f"{svc.name}.db_pool", self.tier.mongo.pool_per_process,
                         instances=svc.replicas * svc.processes, group=g, kind="db_pool")
        speed = self.tier.mongo.speed
        turns = self.loop_turns(svc, 1)
        if not turns:
            # no loop turns between them: back-to-back queries on one station are one service
            merged: list[tuple[int, Dist]] = []
            for st, d in ops:
                if merged and merged[-1][0] == st:
                    merged[-1] = (st, DistSum([merged[-1][1], d]))
                else:
                    merged.append((st, d))
            ops = merged
        steps = [Step(Op.ACQUIRE, pool)]
        for st, d in ops:
            steps += [Step(Op.SERVE, st, d.scaled(1.0 / speed)), *turns]
        steps += self.loop_turns(svc, (len(ops) if awaits is None else awaits) - len(ops))
        return steps + [Step(Op.RELEASE, pool)]

    def redis_ops(self) -> list[Step]:
        caches = self.workload.caches
        if not self.tier.redis.enabled or caches.redis_ops_per_request <= 0:
            return []
        st = self.station("redis", 1, instances=self.tier.redis.nodes, kind="cache")
        return [Step(Op.SERVE, st, caches.redis_op.scaled(caches.redis_ops_per_request))]

    def cached_read(self, svc: Service) -> list[Step]:
        """In-process cache, then Redis (if the tier has it), then MongoDB."""
        caches = self.workload.caches
        h1 = caches.in_process_hit
        h2 = caches.redis_hit if self.tier.redis.enabled else 0.0
        db = self.db(svc, [(self.reader, self.workload.mongo.api_read)])
        if h1 == 0 and h2 == 0:
            return db
        # a placeholder: _expand() lays it out with absolute route positions
        redis_steps = []
        if h2 > 0:
            st = self.station("redis", 1, instances=self.tier.redis.nodes, kind="cache")
            redis_steps = self.awaited(svc, [Step(Op.SERVE, st, caches.redis_op)])
        return [_RelativeBranch(h1, (1 - h1) * h2, redis_steps, db)]

    def enter_proxy(self) -> list[Step]:
        conns = self.pool("proxy.connections", self.tier.proxy.max_connections, loss=True, kind="connections")
        steps = [Step(Op.ACQUIRE, conns)]
        if self.tier.proxy.cpu_per_request.mean > 0:  # "direct" (no proxy hop) does no work here
            steps.append(Step(Op.SERVE, self.proxy, self.tier.proxy.cpu_per_request))
        mesh = self.tier.mesh
        if mesh is not None and mesh.max_connections is not None:
            # Envoy's connection pool at the ingress gateway: a request (an SSE stream included) holds
            # a connection; past maxConnections requests wait as pending, past the pending limit: 503
            pending = None if mesh.http1_max_pending_requests is None else mesh.http1_max_pending_requests * mesh.gateways
            steps.append(Step(Op.ACQUIRE, self.pool("mesh.connections", mesh.max_connections * mesh.gateways,
                                                    kind="connections", queue_limit=pending)))
        return steps

    def leave_proxy(self) -> list[Step]:
        out = []
        if "mesh.connections" in self._pools:
            out.append(Step(Op.RELEASE, self._pools["mesh.connections"]))
        return out + [Step(Op.RELEASE, self._pools["proxy.connections"])]

    def publish_event(self) -> list[Step]:
        """Kafka: the turn waits for the producer's acknowledgement; consumers process the events
        later, off the user's path (their wait is the consumer lag)."""
        bus = self.tier.event_bus
        if bus is None or bus.events_per_message <= 0:
            return []
        consumers = self.station("kafka.consumers", bus.active_consumers, kind="event_bus")
        steps = [Step(Op.FORK, route=[Step(Op.SERVE, consumers, bus.consume_time.scaled(bus.events_per_message))])]
        if bus.produce_latency > 0:
            steps.insert(0, Step(Op.DELAY, dist=deterministic(bus.produce_latency)))
        return steps

    def auth_check(self, next_svc: Service) -> list[Step]:
        """A separate auth service checks the token first (microservices); a monolith does it inline."""
        auth = self.tier.service_for("auth")
        if auth is None or auth.name == next_svc.name:
            return []
        return [*self.bind(auth), self.cpu(auth, self.workload.cpu.refresh)]

    def provider(self) -> int:
        if not self.net.providers:
            limits = self.workload.llm.limits
            # The account's limits are shared by every region; the simulated region gets its share.
            # (Not scaled with a smaller simulated load: far past capacity the calls reaching the
            # provider are capped by the saturated app, which does not shrink.)
            share = self.tier.regions.busiest_share
            self.net.providers.append(ProviderSpec(
                name=self.workload.traffic.llm_model,
                rpm=limits.rpm * share if limits.rpm is not None else None,
                tpm=limits.tpm * share if limits.tpm is not None else None,
                max_retries=limits.max_retries, initial_backoff=limits.initial_backoff,
                max_backoff=limits.max_backoff))
        return 0

    def provider_call(self, chat: bool) -> Step:
        w = self.workload
        if chat:
            turns = w.turn_probabilities()
            call = CallSpec(output=w.llm.output_tokens, turns=tuple(turns),
                            input_by_turn=tuple(w.input_tokens_at_turn(k) for k in range(1, len(turns) + 1)),
                            metric=self.net.metric_index("provider_wait"))
        else:
            call = CallSpec(input_fixed=w.llm.title_input_tokens, output_fixed=w.llm.title_output_tokens)
        return Step(Op.PROVIDER, self.provider(), call=call)

    def limits(self, active: int) -> dict[str, list[int]]:
        rl = self.workload.rate_limits
        out = {"message": [], "api": []}

        def add(name, limit, keys, per_key):
            self.net.limits.append(LimitSpec(name=name, limit=limit, window_s=60.0, keys=keys, users_per_key=per_key))
            return len(self.net.limits) - 1

        if rl.per_user_requests_per_min:
            i = add("per-user requests", rl.per_user_requests_per_min, active, 1)
            out["message"].append(i)
            out["api"].append(i)
        if rl.per_user_ai_per_min:
            out["message"].append(add("per-user AI requests", rl.per_user_ai_per_min, active, 1))
        per_ip = min(rl.users_per_ip, active)
        ip_keys = (active + per_ip - 1) // per_ip
        if rl.per_ip_messages_per_min:
            out["message"].append(add("per-IP messages", rl.per_ip_messages_per_min, ip_keys, per_ip))
        if rl.per_ip_requests_per_min:
            i = add("per-IP requests", rl.per_ip_requests_per_min, ip_keys, per_ip)
            out["message"].append(i)
            out["api"].append(i)
        if rl.global_requests_per_min:
            # one counter for everyone; a point simulated at a smaller load gets its share of it
            limit = max(1, round(rl.global_requests_per_min * self.scale))
            i = add("global requests", limit, 1, active + 1)
            out["message"].append(i)
            out["api"].append(i)
        return out

    def stream_spec(self, svc: Service, ttft_metric: int) -> StreamSpec:
        w = self.workload
        llm = w.llm
        k = llm.slowdown
        cpu_step = self.cpu(svc, w.cpu.message)  # creates (or finds) the service's CPU station
        # Each delta: CPU on the stream's own Node process (its slowdown is applied by the engine) ...
        work = [StreamWork(cpu_step.target, w.cpu.stream_delta * svc.cpu_factor, BOUND)]
        redis = self.tier.redis
        caches = w.caches
        if redis.enabled and redis.streams:
            st = self.station("redis", 1, instances=redis.nodes, kind="cache")
            op = caches.redis_op.mean
            # ... the stream's own Redis commands on the shard its keys hash to (PUBLISH included) ...
            keyed = caches.redis_commands_per_delta * op
            if keyed > 0:
                work.append(StreamWork(st, keyed, KEYED))
            # ... and PUBLISH's broadcast: a Redis Cluster delivers it on every other node too, so this
            # work does not shrink as primaries are added (sharded pub/sub keeps it on the shard).
            broadcast = caches.redis_broadcast_commands_per_delta * op * (redis.nodes - 1)
            if broadcast > 0 and not redis.sharded_pubsub:
                work.append(StreamWork(st, broadcast, OTHER))
            if self.fifo:
                # ... and back on a loop the subscriber's message callback writes it to the client
                work.append(StreamWork(cpu_step.target, 0.0, BOUND, turn=True))
        slice_deltas = max(1, math.ceil(SLICE_SECONDS / llm.coalesce_window))
        if self.fifo:
            per_delta = w.cpu.stream_delta * svc.cpu_factor
            slice_deltas = min(slice_deltas, max(1, math.floor(FIFO_SLICE_CPU / per_delta))) if per_delta > 0 else slice_deltas
        rate = llm.token_rate.scaled(1.0 / k)
        reasoning = llm.reasoning
        return StreamSpec(
            ttft=llm.time_to_first_token.scaled(k), tokens=llm.output_tokens, token_rate=rate,
            window_s=llm.coalesce_window, tokens_per_chunk=llm.tokens_per_chunk,
            slice_deltas=slice_deltas, catch_up=self.fifo, work=work,
            ttft_metric=ttft_metric, gap_metric=self.net.metric_index("stream_max_gap"),
            total_metric=self.net.metric_index("stream_total"), stretch_metric=self.net.metric_index("stream_stretch"),
            thinking=reasoning.thinking if reasoning.share > 0 else None, thinking_share=reasoning.share,
            mean_deltas=mean_deltas(llm.output_tokens, rate, llm.coalesce_window, llm.tokens_per_chunk),
            mean_generation=mean_generation(llm.output_tokens, rate))


@lru_cache(maxsize=256)
def _answers(tokens: Dist, rate: Dist) -> tuple[np.ndarray, np.ndarray]:
    """Answer lengths and token rates drawn with a fixed seed (the same numbers every time)."""
    rng = np.random.default_rng(20261128)
    draw_t, draw_r = batch_sampler(tokens, rng, DELTA_SAMPLES), batch_sampler(rate, rng, DELTA_SAMPLES)
    t = np.array([draw_t() for _ in range(DELTA_SAMPLES)])
    r = np.maximum(np.array([draw_r() for _ in range(DELTA_SAMPLES)]), 1e-12)
    return t, r


@lru_cache(maxsize=256)
def mean_deltas(tokens: Dist, rate: Dist, window: float, tokens_per_chunk: float) -> float:
    """E[deltas per answer] = E[max(1, min(ceil(T / chunk), ceil(T / R / window)))] by Monte Carlo."""
    t, r = _answers(tokens, rate)
    deltas = np.minimum(np.ceil(t / tokens_per_chunk), np.ceil(t / r / window))
    return float(np.maximum(deltas, 1.0).mean())


def mean_generation(tokens: Dist, rate: Dist) -> float:
    """E[T / R], the mean time from first to last token (E[T] / E[R] is ~10% short at cv 0.3)."""
    t, r = _answers(tokens, rate)
    return float((t / r).mean())


class _RelativeBranch:
    """Placeholder expanded by :func:`_expand` into BRANCH/JUMP steps with absolute positions."""

    def __init__(self, p_skip: float, p_redis: float, redis_steps: list[Step], db_steps: list[Step]):
        self.p_skip = p_skip
        self.p_redis = p_redis
        self.redis_steps = redis_steps
        self.db_steps = db_steps


def _expand(route: list) -> list[Step]:
    """Lay out cache branches: [BRANCH] [redis steps, JUMP end] [db steps] end."""
    out: list[Step] = []
    for step in route:
        if not isinstance(step, _RelativeBranch):
            out.append(step)
            continue
        i_redis = len(out) + 1
        i_db = i_redis + (len(step.redis_steps) + 1 if step.redis_steps else 0)
        end = i_db + len(step.db_steps)
        branches = [(step.p_skip, end)]
        if step.redis_steps:
            branches.append((step.p_skip + step.p_redis, i_redis))
        branches.append((1.0, i_db))
        out.append(Step(Op.BRANCH, branches=tuple(branches)))
        if step.redis_steps:
            out += [*step.redis_steps, Step(Op.JUMP, jump=end)]
        out += step.db_steps
    return out


def compile_network(model: NetworkModel) -> NetworkSpec:
    """A textbook network (``kind: network``) as the engine's NetworkSpec, with per-class figures
    at every station and the distribution of the number present."""
    stations = [StationSpec(name=s.name, servers=s.servers, capacity=s.capacity, instances=s.instances,
                            discipline=s.discipline) for s in model.stations]
    pools = [PoolSpec(name=p.name, size=p.size, loss=p.loss) for p in model.pools]
    spec = NetworkSpec(name=model.name, stations=stations, classes=[], pools=pools, detail=True,
                       state_limit=model.state_limit)
    s_index = {s.name: i for i, s in enumerate(model.stations)}
    p_index = {p.name: i for i, p in enumerate(model.pools)}
    for cls in model.classes:
        route: list[Step] = []
        for step in cls.route:
            if step.station is not None:
                route.append(Step(Op.SERVE, s_index[step.station], step.service, step.probability))
            elif step.delay is not None:
                route.append(Step(Op.DELAY, dist=step.delay, prob=step.probability))
            elif step.acquire is not None:
                route.append(Step(Op.ACQUIRE, p_index[step.acquire], prob=step.probability))
            elif step.release is not None:
                route.append(Step(Op.RELEASE, p_index[step.release], prob=step.probability))
            else:
                route.append(Step(Op.MARK, spec.metric_index(step.mark), prob=step.probability))
        spec.classes.append(ClassSpec(
            name=cls.name, route=route, interarrival=cls.interarrival,
            population=cls.population or 0, think=cls.think,
            metric=spec.metric_index(f"response:{cls.name}")))
    return spec
