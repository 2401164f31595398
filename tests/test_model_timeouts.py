"""Stream-cutting timers: the bundled data file, kind resolution and idle-versus-total semantics."""

import pytest
import yaml

from capplan.errors import CapplanError
from capplan.model.loader import _validate, bundled_tier_names
from capplan.model.timeouts import Timer, Timers, load_timers, timer_for, timers_path


def _timer(kind: str, seconds: float | None) -> Timer:
    return Timer(timer=kind, seconds=seconds, setting="x", configurable=True, source="test")


def test_bundled_file_loads_with_a_source_for_every_kind():
    timers = load_timers()
    expected = {"direct", "nginx", "haproxy", "alb", "gclb", "appgw", "cloudflare", "cloudfront",
                "cloud_cdn", "azure_cdn", "gateway", "istio"}
    assert expected <= set(timers.kinds)
    for name, timer in timers.kinds.items():
        assert timer.source.strip(), name
        assert "http" in timer.source, name
        assert timer.setting.strip(), name
    assert timers.provider_load_balancer == {"aws": "alb", "gcp": "gclb", "azure": "appgw"}


def test_every_kind_a_tier_can_name_has_a_timer():
    """The proxy and CDN kinds the tier model accepts all resolve."""
    from typing import get_args

    from capplan.model import tier as tier_model

    kinds = get_args(tier_model.Proxy.model_fields["kind"].annotation) + \
        get_args(tier_model.CDN.model_fields["kind"].annotation)
    for kind in kinds:
        for provider in (("aws", "gcp", "azure") if kind == "cloud_lb" else (None,)):
            assert timer_for(kind, provider).timer in ("idle", "total", "none")


def test_key_facts():
    assert (timer_for("gclb").timer, timer_for("gclb").seconds) == ("total", 30)
    assert (timer_for("alb").timer, timer_for("alb").seconds) == ("idle", 60)
    assert (timer_for("nginx").timer, timer_for("nginx").seconds) == ("idle", 60)
    assert (timer_for("direct").timer, timer_for("direct").seconds) == ("none", None)
    assert (timer_for("istio").timer, timer_for("istio").seconds) == ("total", None)
    assert (timer_for("cloudflare").timer, timer_for("cloudflare").seconds) == ("idle", 100)
    assert (timer_for("cloudfront").timer, timer_for("cloudfront").seconds) == ("idle", 30)


def test_cloud_lb_resolves_per_provider():
    assert timer_for("cloud_lb", "gcp") == timer_for("gclb")
    assert timer_for("cloud_lb", "aws") == timer_for("alb")
    assert timer_for("cloud_lb", "azure") == timer_for("appgw")


@pytest.mark.parametrize("kind,provider,field", [("f5", None, "kind"), ("cloud_lb", None, "--provider"),
                                                 ("cloud_lb", "oracle", "--provider"), ("", "aws", "kind")])
def test_bad_kind_or_provider_is_a_one_line_error(kind, provider, field):
    with pytest.raises(CapplanError) as err:
        timer_for(kind, provider)
    assert err.value.field == field
    assert "\n" not in str(err.value) and str(err.value).startswith(f"{field}: ")


def test_idle_and_total_semantics():
    total30, idle60 = _timer("total", 30), _timer("idle", 60)
    # A 200 s stream with 1 s gaps: cut by a 30 s total timer, not by a 60 s idle timer.
    assert total30.cuts(max_gap_s=1.0, total_s=200.0)
    assert not idle60.cuts(max_gap_s=1.0, total_s=200.0)
    # A 70 s first-token silence is cut by a 60 s idle timer.
    assert idle60.cuts(max_gap_s=70.0, total_s=75.0)
    # Equal is not over the limit.
    assert not idle60.cuts(max_gap_s=60.0, total_s=60.0) and not total30.cuts(max_gap_s=0.5, total_s=30.0)
    # "none" never cuts, whatever the stream.
    assert not _timer("none", None).cuts(max_gap_s=1e6, total_s=1e6, seconds=1.0)


def test_operator_value_overrides_the_default():
    idle60 = _timer("idle", 60)
    assert not idle60.cuts(max_gap_s=70.0, total_s=75.0, seconds=3600)
    assert idle60.cuts(max_gap_s=20.0, total_s=25.0, seconds=10)
    istio = timer_for("istio")
    assert not istio.cuts(max_gap_s=1.0, total_s=1e5)            # Istio: route timeout disabled by default
    assert istio.cuts(max_gap_s=1.0, total_s=31.0, seconds=30)    # the seed's VirtualService timeout: 30s
    assert not istio.cuts(max_gap_s=1.0, total_s=1e5, seconds=0)  # 0 disables (Envoy)
    with pytest.raises(CapplanError):
        idle60.cuts(max_gap_s=1.0, total_s=1.0, seconds=-5)


def test_the_timers_file_is_not_taken_for_a_tier():
    assert timers_path().parent.name == "timeouts"
    assert "proxies" not in bundled_tier_names()


def test_model_rejects_inconsistent_entries():
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="none"):
        _timer("none", 30)
    with pytest.raises(ValidationError, match="max_seconds"):
        Timer(timer="idle", seconds=90, max_seconds=60, setting="x", configurable=True, source="s")
    with pytest.raises(ValidationError):
        _timer("idle", 0)
    assert _timer("idle", "2min").seconds == 120     # durations accept units


def _bundled_data() -> dict:
    return yaml.safe_load(timers_path().read_text(encoding="utf-8"))


@pytest.mark.parametrize("mutate,expected", [
    (lambda d: d["kinds"]["nginx"].update(timer="sometimes"), "kinds.nginx.timer"),
    (lambda d: d["kinds"]["alb"].update(seconds="soon"), "kinds.alb.seconds"),
    (lambda d: d["kinds"]["gclb"].pop("source"), "kinds.gclb.source"),
    (lambda d: d["kinds"]["gclb"].update(source="  "), "kinds.gclb.source"),
    (lambda d: d["kinds"]["istio"].update(colour="blue"), "kinds.istio.colour: unknown field"),
    (lambda d: d["provider_load_balancer"].update(oracle="oci_lb"), "unknown kind 'oci_lb'"),
])
def test_malformed_variant_gives_a_one_line_error(tmp_path, mutate, expected):
    data = _bundled_data()
    mutate(data)
    path = tmp_path / "proxies.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    with pytest.raises(CapplanError) as err:
        _validate(Timers, yaml.safe_load(path.read_text(encoding="utf-8")), str(path))
    message = str(err.value)
    assert "\n" not in message and expected in message and str(path) in message
    with pytest.raises(CapplanError) as again:      # the public loader gives the same line
        load_timers(path)
    assert str(again.value) == message


def test_broken_yaml_and_wrong_top_level(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("kinds:\n  nginx: {timer: idle\n", encoding="utf-8")
    with pytest.raises(CapplanError) as err:
        load_timers(bad)
    assert "malformed YAML" in str(err.value) and "\n" not in str(err.value)
    listed = tmp_path / "list.yaml"
    listed.write_text("- nginx\n", encoding="utf-8")
    with pytest.raises(CapplanError, match="mapping"):
        load_timers(listed)
