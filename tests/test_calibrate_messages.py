"""A LibreChat messages export as workload demand figures (capplan/calibrate/messages.py)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from capplan.calibrate.messages import NULL_PARENT, load_messages, message_figures, parse_messages
from capplan.errors import CapplanError

DAY = 86_400.0


def export(seed: int = 1, users: int = 60, days: int = 5, per_day: float = 6.0, think_mean: float = 90.0,
           tokens_mean: float = 500.0, new_share: float = 0.3) -> str:
    """A synthetic export with known demand: each active user-day a Poisson number of messages (>= 1),
    sent in sessions inside a working day, an answer 10 s after each message, then a think time."""
    rng = np.random.default_rng(seed)
    lines = []
    k = 0
    for day in range(days):
        for u in range(users):
            n = 1 + rng.poisson(per_day - 1)
            t = day * DAY + 9 * 3600 + rng.uniform(0, 6 * 3600)
            conv, parent = None, NULL_PARENT
            for _ in range(n):
                if conv is None or rng.random() < new_share:
                    conv, parent = f"c{k}", NULL_PARENT
                k += 1
                lines.append({"messageId": f"m{k}", "user": f"u{u}", "conversationId": conv, "parentMessageId": parent,
                              "isCreatedByUser": True, "createdAt": {"$date": _iso(t)}})
                k += 1
                lines.append({"messageId": f"m{k}", "user": f"u{u}", "conversationId": conv,
                              "parentMessageId": f"m{k - 1}", "isCreatedByUser": False,
                              "tokenCount": float(rng.gamma(1 / 0.64, tokens_mean * 0.64)),
                              "createdAt": {"$date": {"$numberLong": str(int((t + 10) * 1000))}}})
                parent = f"m{k}"
                t += 10 + rng.exponential(think_mean)
    return "\n".join(json.dumps(line) for line in lines) + "\n"


def _iso(t: float) -> str:
    import datetime as dt

    return dt.datetime.fromtimestamp(t, dt.timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def test_the_exports_demand_is_recovered_within_its_intervals():
    figs = message_figures(parse_messages(export(), "messages.json"), seed=3)
    assert figs.users == 60 and figs.days == 5 and not figs.missing
    per_day = figs.figures["demand.messages_per_active_user_per_day"]
    assert per_day.fitted.contains(6.0) and per_day.observations == 300
    think = figs.figures["think_time"]
    assert think.fitted.contains(90.0) and abs(think.cv - 1.0) < 0.1      # exponential: cv 1
    tokens = figs.figures["llm.output_tokens"]
    assert tokens.fitted.contains(500.0) and abs(tokens.cv - 0.8) < 0.08  # gamma with cv 0.8
    share = figs.figures["new_conversation_share"].fitted
    # a user-day's first message always opens one, later ones with probability 0.3
    expected = (1 + (6.0 - 1) * 0.3) / 6.0
    assert share.contains(expected)
    peak = figs.figures["demand.peak_hour_share"].fitted
    assert 0.15 < peak.value < 0.5 and peak.low <= peak.value <= peak.high   # a 6-hour working window


def test_thin_exports_report_what_is_missing_instead_of_defaulting():
    figs = message_figures(parse_messages(export(users=3, days=2), "m.json"))
    assert "demand.messages_per_active_user_per_day" in figs.missing and "user-days; need 30" in \
        figs.missing["demand.messages_per_active_user_per_day"]
    assert "demand.peak_hour_share" in figs.missing


@pytest.mark.parametrize("text, needle", [
    ("[1, 2]\n", "not a LibreChat message"),
    ('{"user": "u", "isCreatedByUser": true}\n', "not a LibreChat message"),
    ('{"user": "u", "isCreatedByUser": true, "createdAt": "yesterday"}\n', "createdAt is not a date"),
    ("not json\n", "not a JSON document"),
    ("\n\n", "no messages"),
])
def test_a_file_that_is_not_an_export_is_refused_with_the_line(text, needle):
    with pytest.raises(CapplanError) as err:
        parse_messages(text, "m.json")
    assert needle in str(err.value) and str(err.value).startswith("m.json")


def test_a_non_utf8_export_is_one_line(tmp_path):
    (tmp_path / "m.json").write_bytes(b"\xff\xfe")
    with pytest.raises(CapplanError, match="not UTF-8"):
        load_messages(tmp_path / "m.json")
