"""Monthly volumes from the offered demand: messages, bytes through each network hop, stored GB, tokens.

Derived from the workload's demand shape at the forecast's users (never from what a saturated
simulation managed to serve, so a bill only grows with users) and the workload's traffic assumptions.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from capplan.forecast import TierForecast
from capplan.model.tier import Tier
from capplan.model.workload import Workload
from capplan.sim.build import mean_deltas

CPU_TARGET = 0.70                 # [seed] HPA CPU target: request = usage / 70%


@dataclass(frozen=True)
class Demand:
    """Monthly volumes from the offered demand (the workload's demand shape), and the simulated peak streams."""

    messages_per_month: int
    active_users: int
    egress_gb: Decimal
    cdn_gb: Decimal
    nat_gb: Decimal
    lb_gb: Decimal
    stored_gb_per_month: Decimal
    llm_input_tokens: int
    llm_output_tokens: int
    peak_streams: int


def demand(tier: Tier, forecast: TierForecast, workload: Workload) -> Demand:
    """Monthly volumes from the offered demand (the workload's demand shape at the forecast's users),
    never from what a saturated simulation managed to serve: a bill only grows with users."""
    t = workload.traffic
    llm = workload.llm
    users = forecast.users
    messages = int(round(workload.messages_per_month(users)))
    tokens_out = llm.output_tokens.mean
    deltas = mean_deltas(llm.output_tokens, llm.token_rate.scaled(1.0 / llm.slowdown), llm.coalesce_window,
                         llm.tokens_per_chunk)
    stream_bytes = deltas * t.bytes_per_delta
    read_bytes = workload.api_reads_per_message * t.api_read_bytes
    page_bytes = t.page_loads_per_message * t.page_load_bytes
    origin_bytes = messages * (stream_bytes + read_bytes)
    page_total = messages * page_bytes
    cdn = tier.cdn is not None and tier.cdn.kind in ("cloudfront", "cloud_cdn", "azure_cdn")
    # Cloudflare bills a flat plan, not per GB: its bytes leave the origin once and are cached.
    egress = origin_bytes + (0.0 if tier.cdn is not None else page_total)
    input_tokens = workload.mean_input_tokens()
    titles = workload.new_conversation_share
    # Provider traffic leaves through NAT: the prompt out (~4 B per token of JSON) and the answer's
    # SSE chunks back (each a JSON envelope around a token or a few).
    provider_bytes = 4.0 * input_tokens + tokens_out / llm.tokens_per_chunk * t.provider_bytes_per_chunk
    title_bytes = 4.0 * (llm.title_input_tokens + llm.title_output_tokens)
    return Demand(
        messages_per_month=messages,
        active_users=workload.daily_active_users(users),
        egress_gb=Decimal(str(round(egress / 1e9, 3))),
        cdn_gb=Decimal(str(round(page_total / 1e9, 3))) if cdn else Decimal(0),
        nat_gb=Decimal(str(round(messages * (provider_bytes + titles * title_bytes) / 1e9, 3))),
        # a CDN in front serves the page bundle: the load balancer sees only what the origin sends
        lb_gb=Decimal(str(round((origin_bytes + (0.0 if tier.cdn is not None else page_total)) / 1e9, 3))),
        stored_gb_per_month=Decimal(str(round(messages * t.stored_bytes_per_message / 1e9, 3))),
        llm_input_tokens=int(round(messages * (input_tokens + titles * llm.title_input_tokens))),
        llm_output_tokens=int(round(messages * (tokens_out + titles * llm.title_output_tokens))),
        peak_streams=int(round(sum(forecast.peak_streams_per_replica.values()))),
    )
