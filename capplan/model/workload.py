"""LibreChat traffic: who sends what, how often, and what each request costs the system.

Defaults live in ``scenarios/workloads/librechat.yaml`` with a comment per number saying where it
comes from (LibreChat's code and docs via research/librechat.md, the seed document, or "assumption").

One demand shape sets both the peak and the month: registered users x the daily active share x
messages per active user per day gives a day's messages; the peak hour carries ``peak_hour_share``
of them (the rate the infrastructure must hold) and ``active_days_per_month`` days make the month
(the volume the LLM and byte lines are billed on). Both are offered demand: what users ask for,
whatever the architecture manages to serve.
"""

from __future__ import annotations

import math
from typing import Annotated, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, PrivateAttr, model_validator

from capplan.model.distributions import Dist, Seconds
from capplan.model.ranges import UncertainInput
from capplan.units import parse_fraction, parse_memory_mib

Share = Annotated[float, BeforeValidator(parse_fraction), Field(ge=0, le=1)]
MiB = Annotated[float, BeforeValidator(parse_memory_mib), Field(ge=0)]

SECONDS_PER_HOUR = 3600.0
MAX_TURNS = 5000          # turn index where the geometric tail is cut (probability < 1e-300 for p >= 0.14)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)  # .inf and .nan are no one's numbers


class Demand(_Strict):
    """How much users ask for: a day's messages and the busiest hour's share of them."""

    daily_active_share: Share = Field(gt=0)              # registered users who chat on a given day
    # [limit] 5,000 a day is one message every 17 s around the clock: past any person's use
    messages_per_active_user_per_day: float = Field(gt=0, le=5_000)
    peak_hour_share: Share = Field(gt=0)                 # share of a day's messages sent in its busiest hour
    active_days_per_month: float = Field(default=21.7, gt=0, le=31)


class Prompt(_Strict):
    """What is sent to the model per message: LibreChat resends the conversation every turn."""

    system_tokens: float = Field(ge=0)                   # system prompt, instructions, tool definitions
    user_message_tokens: float = Field(ge=0)             # the new user message
    context_window: float = Field(gt=0)                  # the model's window: history is pruned to fit


class ProviderLimits(_Strict):
    """The LLM provider account's limits for the model, and how the client retries a 429."""

    rpm: float | None = Field(default=None, gt=0)        # requests per minute (None: unlimited)
    tpm: float | None = Field(default=None, gt=0)        # tokens (input + output) per minute
    max_retries: int = Field(default=2, ge=0, le=10)     # OpenAI/Anthropic SDK default maxRetries
    initial_backoff: Seconds = Field(default=0.5, gt=0)  # SDK: 0.5 s x 2^n, at most 8 s, jitter -25%
    max_backoff: Seconds = Field(default=8.0, gt=0)


class Reasoning(_Strict):
    """A reasoning model thinks in silence before its first token (o-series, extended thinking)."""

    share: Share = 0.0                                   # share of messages answered by such a model
    thinking: Dist | None = None                         # the silence added before the first token

    @model_validator(mode="after")
    def _thinking_given(self) -> "Reasoning":
        if self.share > 0 and self.thinking is None:
            raise ValueError("thinking: required when share > 0")
        return self


class LLMWork(_Strict):
    """The external model provider as the user feels it."""

    time_to_first_token: Dist
    output_tokens: Dist                    # tokens per answer
    token_rate: Dist                       # tokens per second while streaming
    prompt: Prompt
    title_call: Dist                       # the extra non-streamed call that names a new conversation
    title_input_tokens: float = Field(default=200.0, ge=0)
    title_output_tokens: float = Field(default=20.0, ge=0)
    coalesce_window: Seconds = Field(default=0.025, gt=0)  # STREAM_DELTA_COALESCE_MS: deltas merged per window
    tokens_per_chunk: float = Field(default=1.0, gt=0)   # tokens in one provider stream chunk
    limits: ProviderLimits = ProviderLimits()
    reasoning: Reasoning = Reasoning()
    slowdown: float = Field(default=1.0, gt=0)           # what-if: time to first token x k, tokens/s / k


class NodeCPU(_Strict):
    """CPU seconds on the single-threaded Node event loop, per request kind."""

    message: Dist                          # POST /api/agents/chat: validation, history assembly
    token_count: Dist                      # synchronous token counting of new text (twice per turn)
    api_read: Dist                         # GET convos, messages, config, presets ...
    refresh: Dist                          # POST /api/auth/refresh (JWT)
    title: Dist                            # handling a title generation result
    stream_delta: Seconds                  # CPU per streamed delta (provider chunks parsed, SSE write, Redis publish)
    # CPU seconds per second a process spends on no request (timers, garbage collection, metrics
    # scrapes): the capacity left for requests is 1 - background. `capplan calibrate` fits it.
    background: float = Field(default=0.0, ge=0, le=0.9)
    # How the loop serves its work. "fifo" is Node's loop: every callback runs to completion in
    # the order it became ready, and a request that awaits I/O (a Redis command, a query) queues
    # again behind everything ready when its answer comes back. "shared" is processor sharing, a
    # coarser model in which short requests overtake long ones and awaits cost no queueing.
    event_loop: Literal["fifo", "shared"] = "shared"


class MongoWork(_Strict):
    """Database server time per operation kind (on one core of the primary or a secondary)."""

    history_read: Dist                     # getMessages: the whole conversation, every turn
    write: Dist                            # one insert/update
    writes_per_turn: float = Field(ge=0)   # user msg, response msg, conversation, 1-2 transactions
    search_sync_writes: float = Field(ge=0)  # Meilisearch addDocuments + updateMany per saved doc
    api_read: Dist                         # a typical API read query


class Caches(_Strict):
    """Hit ratios of the seed's cache layers for API reads; a hit skips the layers below it."""

    in_process_hit: Share
    redis_hit: Share
    redis_op: Dist                         # one Redis command round trip on the server
    redis_ops_per_request: float = Field(ge=0)  # session / rate-limit counters per API request
    redis_commands_per_delta: float = Field(ge=0)  # slot-routed commands per streamed delta (the stream's own keys)
    redis_broadcast_commands_per_delta: float = Field(default=1.0, ge=0)  # PUBLISH, which a Redis Cluster
    #                                              broadcasts to every node (SPUBLISH stays on one shard)


class RateLimits(_Strict):
    per_user_requests_per_min: int | None = Field(default=None, ge=1)
    per_user_ai_per_min: int | None = Field(default=None, ge=1)
    per_ip_messages_per_min: int | None = Field(default=None, ge=1)
    per_ip_requests_per_min: int | None = Field(default=None, ge=1)   # the seed's perIP 500 req/min
    global_requests_per_min: int | None = Field(default=None, ge=1)   # the seed's global 10,000 req/min
    concurrent_generations_per_user: int | None = Field(default=None, ge=1)
    users_per_ip: int = Field(default=1, ge=1)  # > 1 when TRUST_PROXY is wrong or users share a NAT


class Traffic(_Strict):
    """Bytes and storage per message (cost inputs); volumes come from the demand shape."""

    bytes_per_delta: float = Field(default=150.0, ge=0)       # one SSE event: JSON envelope + text
    api_read_bytes: float = Field(default=8000.0, ge=0)       # a typical API response
    page_loads_per_message: float = Field(default=0.05, ge=0) # a full page load every 20 messages
    page_load_bytes: float = Field(default=2.5e6, ge=0)       # the web app's static bundle
    stored_bytes_per_message: float = Field(default=6000.0, ge=0)  # messages + conversation + indexes
    provider_bytes_per_chunk: float = Field(default=200.0, ge=0)   # one provider SSE chunk (JSON), through NAT
    llm_model: str = "illustrative"                           # row id in pricing/llm.yaml


class Workload(_Strict):
    name: str = "librechat"
    description: str = ""
    demand: Demand
    think_time: Dist                       # between the end of an answer and the next message, in a session
    new_conversation_share: Share = Field(gt=0)  # messages that start a conversation (title call)
    api_reads_per_message: float = Field(ge=0)   # page loads, convo list, message fetches
    refresh_interval: Seconds = Field(gt=0)      # JWT session expiry: one refresh per session user
    stream_memory_mib: MiB                 # heap held per open SSE stream on its replica
    llm: LLMWork
    cpu: NodeCPU
    mongo: MongoWork
    caches: Caches
    rate_limits: RateLimits = RateLimits()
    traffic: Traffic = Traffic()
    # numbers the file gave as ranges (capplan.model.ranges), set by the loader; the fields above hold
    # their point values. Not a field: no dump, schema or YAML key sees it.
    _uncertain: tuple[UncertainInput, ...] = PrivateAttr(default=())

    @property
    def uncertain(self) -> tuple[UncertainInput, ...]:
        """The inputs the workload file gave as ranges, in file order (empty: none)."""
        return self._uncertain

    @model_validator(mode="before")
    @classmethod
    def _moved_fields(cls, data):
        if isinstance(data, dict):
            moved = {"peak_active_share": "demand (daily_active_share, messages_per_active_user_per_day, "
                                          "peak_hour_share)",
                     }
            for old, new in moved.items():
                if old in data:
                    raise ValueError(f"{old}: replaced by {new}")
        return data

    @model_validator(mode="after")
    def _checks(self) -> "Workload":
        if self.think_time.mean <= 0:
            raise ValueError("think_time: mean must be > 0")
        if self.llm.token_rate.mean <= 0:
            raise ValueError("llm.token_rate: mean must be > 0")
        if self.llm.output_tokens.mean <= 0:
            raise ValueError("llm.output_tokens: mean must be > 0")
        return self

    # -- the demand shape ------------------------------------------------------------------------
    def messages_per_day(self, registered: int) -> float:
        d = self.demand
        return registered * d.daily_active_share * d.messages_per_active_user_per_day

    def peak_messages_per_second(self, registered: int) -> float:
        """Offered message rate in the busiest hour."""
        return self.messages_per_day(registered) * self.demand.peak_hour_share / SECONDS_PER_HOUR

    def messages_per_month(self, registered: int) -> float:
        return self.messages_per_day(registered) * self.demand.active_days_per_month

    def daily_active_users(self, registered: int) -> int:
        return max(1, round(registered * self.demand.daily_active_share))

    def nominal_turn_seconds(self) -> float:
        """A message turn with no queueing: request CPU and the stream (the title call of a new
        conversation runs in the background: the user does not wait for it)."""
        llm = self.llm
        thinking = llm.reasoning.share * (llm.reasoning.thinking.mean if llm.reasoning.thinking else 0.0)
        cpu = self.cpu.message.mean + 2 * self.cpu.token_count.mean
        return cpu + self.mean_stream_seconds() + thinking

    def session_users(self, registered: int) -> int:
        """Users in a chat session at the peak: the closed population whose turns, with no queueing,
        send exactly the offered peak rate (Little's law: N = rate x (think + turn))."""
        rate = self.peak_messages_per_second(registered)
        return max(1, math.ceil(rate * (self.think_time.mean + self.nominal_turn_seconds()) - 1e-9))

    # -- the model provider ----------------------------------------------------------------------
    def mean_stream_seconds(self) -> float:
        """E[ttft] + E[tokens] / E[rate], both after the slow-down knob (the screen uses it too)."""
        k = self.llm.slowdown
        return self.llm.time_to_first_token.mean * k + self.llm.output_tokens.mean / (self.llm.token_rate.mean / k)

    def input_tokens_at_turn(self, turn: int) -> float:
        """Prompt tokens of the ``turn``-th message of a conversation: system prompt, the whole history
        (earlier user messages and answers) and the new message, pruned to fit the context window
        with room for the answer."""
        p = self.llm.prompt
        answer = self.llm.output_tokens.mean
        full = p.system_tokens + turn * p.user_message_tokens + (turn - 1) * answer
        return max(0.0, min(full, p.context_window - answer))

    def turn_probabilities(self) -> list[float]:
        """P(a message is turn k of its conversation), k = 1, 2, ...: conversations end after each
        turn with probability ``new_conversation_share`` (geometric), so turn k has p (1-p)^(k-1)."""
        p = self.new_conversation_share
        out, stay = [], 1.0
        for _ in range(MAX_TURNS):
            out.append(p * stay)
            stay *= 1.0 - p
            if stay < 1e-12:
                break
        return out

    def mean_input_tokens(self) -> float:
        return sum(prob * self.input_tokens_at_turn(k) for k, prob in enumerate(self.turn_probabilities(), 1))
