"""LibreChat traffic: who sends what, how often, and what each request costs the system.

Defaults live in ``scenarios/workloads/librechat.yaml`` with a comment per number saying where it
comes from (LibreChat's code and docs via research/librechat.md, the seed document, or "assumption").
"""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator

from capplan.model.distributions import Dist, Seconds
from capplan.units import parse_fraction, parse_memory_mib

Share = Annotated[float, BeforeValidator(parse_fraction), Field(ge=0, le=1)]
MiB = Annotated[float, BeforeValidator(parse_memory_mib), Field(ge=0)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class LLMWork(_Strict):
    """The external model provider as the user feels it."""

    time_to_first_token: Dist
    output_tokens: Dist                    # tokens per answer
    token_rate: Dist                       # tokens per second while streaming
    input_tokens: Dist                     # prompt tokens per message (history + message), for cost
    title_call: Dist                       # the extra non-streamed call that names a new conversation


class NodeCPU(_Strict):
    """CPU seconds on the single-threaded Node event loop, per request kind."""

    message: Dist                          # POST /api/agents/chat: validation, history assembly
    token_count: Dist                      # synchronous token counting of new text (twice per turn)
    api_read: Dist                         # GET convos, messages, config, presets ...
    refresh: Dist                          # POST /api/auth/refresh (JWT)
    title: Dist                            # handling a title generation result
    stream_delta: Seconds                  # CPU per streamed delta (SSE write + Redis publish)
    deltas_per_second: float = Field(gt=0)  # deltas per second of an active generation


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
    redis_commands_per_delta: float = Field(ge=0)  # Redis Streams fan-out per streamed delta


class RateLimits(_Strict):
    per_user_requests_per_min: int | None = Field(default=None, ge=1)
    per_user_ai_per_min: int | None = Field(default=None, ge=1)
    per_ip_messages_per_min: int | None = Field(default=None, ge=1)
    concurrent_generations_per_user: int | None = Field(default=None, ge=1)
    users_per_ip: int = Field(default=1, ge=1)  # > 1 when TRUST_PROXY is wrong or users share a NAT


class Traffic(_Strict):
    """What the peak-hour forecast means for a month of bytes, tokens and storage (cost inputs)."""

    peak_hours_per_month: float = Field(default=60.0, gt=0)   # month volume = peak-hour volume x this
    bytes_per_delta: float = Field(default=150.0, ge=0)       # one SSE event: JSON envelope + text
    api_read_bytes: float = Field(default=8000.0, ge=0)       # a typical API response
    page_loads_per_message: float = Field(default=0.05, ge=0) # a full page load every 20 messages
    page_load_bytes: float = Field(default=2.5e6, ge=0)       # the web app's static bundle
    stored_bytes_per_message: float = Field(default=6000.0, ge=0)  # messages + conversation + indexes
    llm_model: str = "illustrative"                           # row id in pricing/llm.yaml


class Workload(_Strict):
    name: str = "librechat"
    description: str = ""
    peak_active_share: Share               # share of registered users active in the peak hour
    think_time: Dist                       # between the end of an answer and the next message
    new_conversation_share: Share          # messages that start a conversation (title call)
    api_reads_per_message: float = Field(ge=0)   # page loads, convo list, message fetches
    refresh_interval: Seconds = Field(gt=0)      # JWT session expiry: one refresh per active user
    stream_memory_mib: MiB                 # heap held per open SSE stream on its replica
    llm: LLMWork
    cpu: NodeCPU
    mongo: MongoWork
    caches: Caches
    rate_limits: RateLimits = RateLimits()
    traffic: Traffic = Traffic()

    @model_validator(mode="after")
    def _caches_consistent(self) -> "Workload":
        if self.think_time.mean <= 0:
            raise ValueError("think_time: mean must be > 0")
        if self.llm.token_rate.mean <= 0:
            raise ValueError("llm.token_rate: mean must be > 0")
        return self

    def active_users(self, registered: int) -> int:
        return max(1, round(registered * self.peak_active_share))

    def mean_stream_seconds(self) -> float:
        return self.llm.time_to_first_token.mean + self.llm.output_tokens.mean / self.llm.token_rate.mean
