"""Dotted field paths on the workload and tier models (capplan.sweep.fields): --vary's reader and writer."""

from __future__ import annotations

import re

import pytest

from capplan.errors import CapplanError
from capplan.model.loader import bundled_tier_names, bundled_workloads, load_tier, load_workload
from capplan.sweep.fields import canonical_path, get_field, parse_vary, set_field, set_fields


@pytest.fixture(scope="module")
def wl():
    return load_workload()


@pytest.fixture(scope="module")
def tier1():
    return load_tier("tier1")


# -- reading ------------------------------------------------------------------------------------

def test_get_field_walks_nested_paths_and_a_distribution_stands_for_its_mean(wl):
    assert get_field(wl, "llm.token_rate.mean") == 50.0
    assert get_field(wl, "llm.token_rate") == 50.0
    assert get_field(wl, "cpu.message") == pytest.approx(0.040)
    assert get_field(wl, "api_reads_per_message") == 3
    assert get_field(wl, "llm.prompt.context_window") == 128000
    assert get_field(wl, "cpu.event_loop") == "shared"
    assert canonical_path(wl, "cpu.message") == "cpu.message.mean"


def test_tier_services_are_reached_by_name_by_position_or_by_the_bare_name(tier1):
    assert get_field(tier1, "services.api.replicas") == tier1.services[0].replicas
    assert get_field(tier1, "services.0.replicas") == tier1.services[0].replicas
    assert get_field(tier1, "api.replicas") == tier1.services[0].replicas
    assert canonical_path(tier1, "api.replicas") == "services.api.replicas"
    assert get_field(tier1, "mongo.cores") == tier1.mongo.cores


# -- setting ------------------------------------------------------------------------------------

def test_set_field_returns_a_new_validated_model_and_leaves_the_old_one(wl):
    new = set_field(wl, "llm.prompt.system_tokens", "1000")
    assert new.llm.prompt.system_tokens == 1000.0
    assert wl.llm.prompt.system_tokens == 800.0
    assert new.llm.prompt.user_message_tokens == wl.llm.prompt.user_message_tokens


def test_setting_a_distribution_sets_its_mean_and_keeps_kind_and_cv(wl):
    rate = set_field(wl, "llm.token_rate", "25").llm.token_rate
    assert (rate.kind, rate.mean, rate.cv) == ("gamma", 25.0, 0.3)
    rate = set_field(wl, "llm.token_rate.mean", 100).llm.token_rate
    assert (rate.kind, rate.mean, rate.cv) == ("gamma", 100.0, 0.3)
    msg = set_field(wl, "cpu.message", "30ms").cpu.message
    assert (msg.kind, msg.mean, msg.cv) == ("exponential", pytest.approx(0.030), None)
    think = set_field(wl, "think_time.mean", "2min").think_time
    assert (think.kind, think.mean, think.cv) == ("lognormal", 120.0, 1.0)


def test_values_are_read_as_the_field_reads_them(wl):
    assert set_field(wl, "demand.peak_hour_share", "20%").demand.peak_hour_share == pytest.approx(0.20)
    assert set_field(wl, "stream_memory_mib", "1Gi").stream_memory_mib == 1024.0
    assert set_field(wl, "cpu.stream_delta", "1ms").cpu.stream_delta == pytest.approx(0.001)
    assert set_field(wl, "cpu.event_loop", "fifo").cpu.event_loop == "fifo"
    assert set_field(wl, "llm.limits.rpm", "none").llm.limits.rpm is None
    assert set_field(wl, "llm.limits.rpm", " 500 ").llm.limits.rpm == 500.0


def test_tier_fields_are_set_on_the_named_service(tier1):
    for path in ("services.api.replicas", "api.replicas", "services.0.replicas"):
        assert set_field(tier1, path, "4").services[0].replicas == 4
    ms = load_tier("microservices")
    chat = [s.name for s in ms.services].index("chat")
    new = set_field(ms, "chat.cpu", "2")
    assert new.services[chat].cpu == 2.0
    assert [s.cpu for i, s in enumerate(new.services) if i != chat] == \
        [s.cpu for i, s in enumerate(ms.services) if i != chat]


@pytest.mark.parametrize("name", sorted(bundled_workloads()))
def test_setting_a_field_to_its_own_value_gives_an_equal_workload(name):
    w = load_workload(name)
    assert set_field(w, "api_reads_per_message", w.api_reads_per_message) == w
    assert set_fields(w, {}) == w


def test_setting_a_field_to_its_own_value_gives_an_equal_tier():
    for name in bundled_tier_names(variants=True):
        t = load_tier(name)
        assert set_field(t, "mongo.cores", t.mongo.cores) == t, name


def test_a_number_set_is_no_longer_uncertain_and_the_others_stay(wl):
    paths = [u.path for u in wl.uncertain]
    assert "cpu.message.mean" in paths
    new = set_field(wl, "cpu.message", "30ms")
    assert [u.path for u in new.uncertain] == [p for p in paths if p != "cpu.message.mean"]
    assert set_field(wl, "llm.prompt.system_tokens", 900).uncertain == wl.uncertain


def test_set_fields_applies_several_at_once_and_refuses_one_field_twice(wl):
    new = set_fields(wl, {"cpu.message": "30ms", "llm.token_rate.mean": 40})
    assert new.cpu.message.mean == pytest.approx(0.03) and new.llm.token_rate.mean == 40
    with pytest.raises(CapplanError, match="same field"):
        set_fields(wl, {"cpu.message": "30ms", "cpu.message.mean": "20ms"})


# -- refusals -----------------------------------------------------------------------------------

def test_an_unknown_field_is_named_with_the_keys_valid_where_it_failed(wl):
    with pytest.raises(CapplanError) as exc:
        set_field(wl, "llm.token_rat", "25")
    text = str(exc.value)
    assert text.startswith("--vary: unknown field 'llm.token_rat' (llm has: time_to_first_token, output_tokens, "
                           "token_rate, ")
    assert exc.value.field == "--vary"
    assert "\n" not in text
    with pytest.raises(CapplanError, match=r"unknown field 'cpu.message.avg' \(cpu.message has: kind, mean, cv\)"):
        get_field(wl, "cpu.message.avg")
    with pytest.raises(CapplanError, match=r"\(workload has: name, description, demand, "):
        get_field(wl, "demnd.peak_hour_share")


def test_the_caller_names_the_option(wl):
    with pytest.raises(CapplanError) as exc:
        set_field(wl, "nope", "1", field="--sensitivity")
    assert exc.value.field == "--sensitivity" and str(exc.value).startswith("--sensitivity: ")


def test_unknown_service_lists_the_tiers_services_and_fields(tier1):
    with pytest.raises(CapplanError, match=r"unknown field 'services.web.cpu' \(services has: api"):
        set_field(tier1, "services.web.cpu", "2")
    with pytest.raises(CapplanError, match=r"\(tier has: kind, name, title"):
        set_field(tier1, "web.cpu", "2")


@pytest.mark.parametrize("path, why", [
    ("llm", "is a group of fields, not a number (it has: time_to_first_token"),
    ("llm.prompt", "is a group of fields"),
    ("cpu.stream_delta.mean", "cpu.stream_delta is a single value, with no field 'mean'"),
    ("llm.reasoning.thinking", "is not set in the workload"),
    ("cpu..message", "not a field path"),
    ("", "not a field path"),
])
def test_paths_that_name_no_number_are_refused(wl, path, why):
    with pytest.raises(CapplanError, match="^--vary: .*" + re.escape(why)):
        set_field(wl, path, "1")


def test_a_list_is_not_a_number(tier1):
    with pytest.raises(CapplanError, match="'services' is a list"):
        set_field(tier1, "services", "1")


@pytest.mark.parametrize("path, value, why", [
    ("cpu.message", "-1ms", "not a duration"),
    ("cpu.message", "fast", "not a duration"),
    ("think_time.mean", 0, "think_time: mean must be > 0"),
    ("llm.token_rate", "0", "llm.token_rate: mean must be > 0"),
    ("demand.peak_hour_share", "150%", "less than or equal to 1"),
    ("api_reads_per_message", "-1", "greater than or equal to 0"),
    ("api_reads_per_message", "lots", "valid number"),
    ("cpu.event_loop", "lifo", "'fifo' or 'shared'"),
    ("llm.token_rate.cv", "-0.1", "greater than or equal to 0"),
    ("cpu.message.cv", "0.5", "exponential distribution has cv 1"),
    ("api_reads_per_message", "nan", ""),
])
def test_impossible_values_are_refused_in_one_line_with_the_field(wl, path, value, why):
    with pytest.raises(CapplanError) as exc:
        set_field(wl, path, value)
    assert exc.value.field == "--vary"
    assert why in str(exc.value) and f"{path}={value}" in str(exc.value)
    assert "\n" not in str(exc.value)


def test_a_whole_number_field_refuses_a_fraction(tier1):
    with pytest.raises(CapplanError, match=r"--vary: api.replicas=2.5: .*integer"):
        set_field(tier1, "api.replicas", "2.5")
    with pytest.raises(CapplanError, match="api.replicas=0: .*greater than or equal to 1"):
        set_field(tier1, "api.replicas", "0")


# -- PATH=V1,V2 ---------------------------------------------------------------------------------

def test_parse_vary_splits_path_and_values():
    assert parse_vary("llm.token_rate.mean=25,50,100") == ("llm.token_rate.mean", ["25", "50", "100"])
    assert parse_vary(" cpu.message = 20ms, 40ms ") == ("cpu.message", ["20ms", "40ms"])
    assert parse_vary("api.replicas=3") == ("api.replicas", ["3"])


@pytest.mark.parametrize("text, why", [
    ("llm.token_rate.mean", "expected PATH=V1,V2"),
    ("", "expected PATH=V1,V2"),
    ("=25,50", "not a field path"),
    ("llm token=25", "not a field path"),
    ("llm.token_rate.mean=", "an empty value"),
    ("llm.token_rate.mean=25,,50", "an empty value"),
    ("llm.token_rate.mean=25,", "an empty value"),
    ("llm.token_rate.mean=25,25", "'25' is given twice"),
])
def test_parse_vary_refuses_malformed_text(text, why):
    with pytest.raises(CapplanError, match=re.escape(why)) as exc:
        parse_vary(text)
    assert exc.value.field == "--vary"
