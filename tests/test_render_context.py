"""RenderContext: valid examples, impossible combinations rejected with the field named."""

from __future__ import annotations

import pydantic
import pytest

from capplan.errors import CapplanError
from capplan.render import RenderContext, example_context, node_old_space_mib, template_vars
from capplan.render.context import EXAMPLE_TIERS

PROVIDERS = ("aws", "gcp", "azure")


@pytest.mark.parametrize("provider", PROVIDERS)
@pytest.mark.parametrize("tier", EXAMPLE_TIERS)
def test_examples_are_valid_and_round_trip(tier: str, provider: str) -> None:
    ctx = example_context(tier, provider)
    assert (ctx.tier, ctx.provider) == (tier, provider)
    assert RenderContext.model_validate(ctx.model_dump()) == ctx
    assert ctx.hpa_min_replicas <= ctx.replicas <= ctx.hpa_max_replicas
    assert ctx.proxy_read_timeout_s > ctx.longest_stream_s
    assert ctx.keep_alive_timeout_ms > ctx.lb_idle_timeout_s * 1000


def test_example_defaults_follow_the_seed_and_research() -> None:
    ctx = example_context()
    assert (ctx.tier, ctx.provider, ctx.app_name) == ("tier2", "aws", "librechat")
    assert ctx.image.startswith("ghcr.io/danny-avila/librechat:")
    assert (ctx.hpa_cpu_target_pct, ctx.hpa_memory_target_pct) == (70, 80)
    assert (ctx.cpu_alert_pct, ctx.memory_alert_pct, ctx.p95_latency_slo_s) == (80, 85, 2.0)
    assert (ctx.error_rate_alert, ctx.queue_backlog_alert, ctx.body_limit_mb) == (0.01, 1000, 25)


def test_derived_defaults() -> None:
    ctx = example_context("tier2", "aws", longest_stream_s=300.5)
    assert ctx.prestop_drain_s == 301
    assert ctx.termination_grace_period_s == 331
    assert ctx.headers_timeout_ms == ctx.keep_alive_timeout_ms + 5000
    assert ctx.pdb_min_available == ctx.hpa_min_replicas - 1
    assert ctx.mongo_connections_at_max == ctx.hpa_max_replicas * ctx.mongo_max_pool_size


@pytest.mark.parametrize("limit,expected", [(2048, 1536), (3000, 2250), (4096, 3072), (6144, 4608)])
def test_node_old_space_is_three_quarters_of_the_limit(limit: int, expected: int) -> None:
    assert node_old_space_mib(limit) == expected
    assert example_context(memory_limit_mib=limit, memory_request_mib=limit).node_old_space_mib == expected
    assert node_old_space_mib(1024) == 768  # below the context's floor, still three quarters


def test_node_old_space_rejects_nonsense() -> None:
    with pytest.raises(CapplanError, match="memory_limit_mib"):
        node_old_space_mib(0)


def test_model_is_frozen_and_forbids_unknown_fields() -> None:
    ctx = example_context()
    with pytest.raises(pydantic.ValidationError):
        ctx.replicas = 9  # type: ignore[misc]
    with pytest.raises(pydantic.ValidationError, match="extra"):
        RenderContext(**ctx.model_dump(), surprise=1)


REJECTED = [
    # (overrides, field named in the message)
    (dict(replicas=99), "replicas"),
    (dict(replicas=1), "replicas"),  # below hpa_min_replicas 3
    (dict(hpa_min_replicas=13, replicas=13), "replicas"),  # min above max
    (dict(cpu_request_millicores=3000), "cpu_request_millicores"),
    (dict(memory_request_mib=8192), "memory_request_mib"),
    (dict(memory_limit_mib=512, memory_request_mib=512), "memory_limit_mib"),
    (dict(memory_limit_mib=1024, memory_request_mib=1024), "memory_limit_mib"),  # floor: 2048 MiB
    (dict(memory_request_mib=2048), "memory_request_mib"),  # request must equal the 4096 MiB limit
    (dict(proxy_read_timeout_s=0), "proxy_read_timeout_s"),
    (dict(proxy_read_timeout_s=480), "proxy_read_timeout_s"),  # equals the longest stream
    (dict(keep_alive_timeout_ms=240_000), "keep_alive_timeout_ms"),
    (dict(headers_timeout_ms=245_000), "headers_timeout_ms"),
    (dict(api_timeout_s=1000), "api_timeout_s"),
    (dict(pdb_min_available=3), "pdb_min_available"),
    (dict(termination_grace_period_s=100), "termination_grace_period_s"),
    (dict(redis_enabled=False, queue_workers=0), "redis_enabled"),
    (dict(mongo_members=4), "mongo_members"),
    (dict(mongo_connection_limit=100), "mongo_max_pool_size"),
    (dict(node_count_min=9), "node_count_min"),
    (dict(region="us-east1"), "region"),
    (dict(zones=("us-east-1a", "us-east-1a")), "zones"),
    (dict(zones=("eu-west-1a", "eu-west-1b")), "zones"),
    (dict(zones=("us-east-1a",)), "zones"),
    (dict(namespace="Lib_Chat"), "namespace"),
    (dict(image="ghcr.io/danny-avila/librechat"), "image"),
    (dict(kubernetes_version="1.24"), "kubernetes_version"),
    (dict(hpa_scale_down_stabilization_s=4000), "hpa_scale_down_stabilization_s"),
    (dict(hpa_scale_up_period_s=0), "hpa_scale_up_period_s"),
    (dict(stream_path_prefixes=()), "stream_path_prefixes"),
    (dict(stream_path_prefixes=("api/ask",)), "stream_path_prefixes"),
    (dict(proxy_read_timeout_s=6060), "proxy_read_timeout_s"),  # above the AWS NLB's 6000 s idle timeout
]


@pytest.mark.parametrize("overrides,field", REJECTED, ids=[f"{f}-{i}" for i, (_, f) in enumerate(REJECTED)])
def test_impossible_combinations_are_rejected_naming_the_field(overrides: dict, field: str) -> None:
    with pytest.raises(pydantic.ValidationError) as excinfo:
        example_context("tier2", "aws", **overrides)
    assert field in str(excinfo.value)


def test_tier_must_be_a_dns_label() -> None:
    with pytest.raises(pydantic.ValidationError, match="tier"):
        RenderContext(**{**example_context().model_dump(), "tier": "Tier 2"})


def test_azure_load_balancer_idle_timeout_range() -> None:
    # the Gateway's Azure LB holds a quiet stream for proxy_read_timeout_s: 4..100 minutes
    with pytest.raises(pydantic.ValidationError, match="proxy_read_timeout_s"):
        example_context("tier2", "azure", proxy_read_timeout_s=6060)
    ok = example_context("tier2", "azure")
    assert template_vars(ok)["gw"]["azure_idle_timeout_minutes"] == 15  # 900 s
    short = example_context("tier2", "azure", longest_stream_s=20.0, proxy_read_timeout_s=30, lb_idle_timeout_s=20)
    assert template_vars(short)["gw"]["azure_idle_timeout_minutes"] == 4  # Azure's minimum
    assert template_vars(ok)["lb_idle_timeout_minutes"] == 4


def test_single_replica_without_redis_is_allowed() -> None:
    ctx = example_context("tier0", "gcp")
    assert not ctx.redis_enabled and ctx.hpa_max_replicas == 1 and ctx.pdb_min_available == 0


def test_unknown_example_tier_or_provider_is_a_capplan_error() -> None:
    with pytest.raises(CapplanError, match="tier"):
        example_context("tier9")
    with pytest.raises(CapplanError, match="provider"):
        example_context("tier1", "ibm")


def test_template_vars_hold_derived_strings() -> None:
    values = template_vars(example_context("tier1", "aws"))
    assert (values["cpu_request"], values["cpu_limit"]) == ("1", "2")
    assert (values["memory_request"], values["memory_limit"]) == ("2048Mi", "2048Mi")
    assert values["node_options"] == "--max-old-space-size=1536"
    assert values["compose_cpus_limit"] == "2" and values["compose_memory_limit"] == "2048M"
    assert values["selector_labels"] == {"app.kubernetes.io/name": "librechat",
                                         "app.kubernetes.io/instance": "librechat-tier1"}
    assert set(values["labels"]) == {f"app.kubernetes.io/{k}" for k in
                                     ("name", "instance", "version", "component", "part-of", "managed-by")}
    half = template_vars(example_context(cpu_request_millicores=500, cpu_limit_millicores=1500))
    assert (half["cpu_request"], half["cpu_limit"], half["compose_cpus_limit"]) == ("500m", "1500m", "1.5")


def test_app_version_from_tag_or_digest() -> None:
    assert example_context().app_version == "v0.8.1"
    digest = example_context(image="registry.local:5000/librechat@sha256:" + "0f" * 32)
    assert digest.app_version == "0f" * 6
