"""A LibreChat messages export (``mongoexport --collection messages``: one JSON document per line) as
the demand side of a workload: how often people write, when, how long they think, how long the
answers are, how often a message starts a conversation.

LibreChat's message documents carry ``user``, ``conversationId``, ``messageId``,
``parentMessageId`` (the null UUID for a conversation's first message), ``isCreatedByUser``,
``tokenCount`` and ``createdAt`` (mongoexport's extended JSON: ``{"$date": "...Z"}`` or
``{"$date": {"$numberLong": "ms"}}``). Every figure comes with its 95% interval and how many
observations it rests on; a figure the export cannot support (no answers with token counts, no
follow-up messages) is reported missing with the reason rather than defaulted.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from capplan.calibrate.fit import Fitted
from capplan.errors import CapplanError
from capplan.files import read_text

NULL_PARENT = "00000000-0000-0000-0000-000000000000"
SESSION_GAP_S = 30 * 60.0        # a longer silence ends a session: it is not think time
MIN_OBSERVATIONS = 30
BOOTSTRAP = 400


@dataclass(frozen=True)
class Figure:
    """A fitted workload number: value with its 95% interval, what it rests on, and its workload key."""

    key: str                 # dotted workload path, e.g. demand.peak_hour_share
    fitted: Fitted
    observations: int
    what: str                # "user-days", "answers", ...
    cv: float | None = None  # coefficient of variation, for a distribution's shape


@dataclass(frozen=True)
class MessageFigures:
    figures: dict[str, Figure]
    missing: dict[str, str]  # workload key -> why the export cannot give it
    messages: int
    users: int
    days: int


def _when(value: Any, where: str) -> float:
    if isinstance(value, dict) and "$date" in value:
        value = value["$date"]
        if isinstance(value, dict) and "$numberLong" in value:
            return int(value["$numberLong"]) / 1000.0
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value) / 1000.0       # epoch milliseconds
    if isinstance(value, str):
        try:
            return dt.datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
        except ValueError:
            pass
    raise CapplanError(f"createdAt is not a date: {value!r}", field=where)


def parse_messages(text: str, source: str) -> list[dict]:
    docs = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        where = f"{source}: line {number}"
        try:
            doc = json.loads(line)
        except ValueError:
            raise CapplanError("not a JSON document (export with mongoexport's default JSON lines, not --jsonArray)",
                               field=where) from None
        if not isinstance(doc, dict) or "createdAt" not in doc or "isCreatedByUser" not in doc or "user" not in doc:
            raise CapplanError("not a LibreChat message (needs user, isCreatedByUser and createdAt)", field=where)
        docs.append({"user": str(doc["user"]), "conversation": str(doc.get("conversationId", "")),
                     "id": str(doc.get("messageId", "")), "parent": str(doc.get("parentMessageId") or NULL_PARENT),
                     "by_user": bool(doc["isCreatedByUser"]), "tokens": doc.get("tokenCount"),
                     "t": _when(doc["createdAt"], where)})
    if not docs:
        raise CapplanError("no messages", field=source)
    return docs


def load_messages(path: Path | str) -> list[dict]:
    return parse_messages(read_text(path), str(path))


def _bootstrap(values: np.ndarray, stat, seed: int) -> Fitted:
    rng = np.random.default_rng(seed)
    n = len(values)   # rows: a 2-D input is resampled by row (e.g. one row per day)
    draws = [stat(values[rng.integers(0, n, n)]) for _ in range(BOOTSTRAP)]
    low, high = np.percentile(draws, [2.5, 97.5])
    return Fitted(float(stat(values)), float(low), float(high))


def message_figures(docs: list[dict], seed: int = 0) -> MessageFigures:
    """The demand-side figures of a workload from an export's messages (see the module doc)."""
    asked = [d for d in docs if d["by_user"]]
    answers = {d["id"]: d for d in docs if not d["by_user"]}
    figures: dict[str, Figure] = {}
    missing: dict[str, str] = {}
    days = {int(d["t"] // 86_400) for d in asked}

    # messages per active user per day: one value per (user, day) with at least one message
    per_user_day: dict[tuple[str, int], int] = defaultdict(int)
    for d in asked:
        per_user_day[(d["user"], int(d["t"] // 86_400))] += 1
    counts = np.array(list(per_user_day.values()), dtype=float)
    if counts.size >= MIN_OBSERVATIONS:
        figures["demand.messages_per_active_user_per_day"] = Figure(
            "demand.messages_per_active_user_per_day", _bootstrap(counts, np.mean, seed), counts.size, "user-days")
    else:
        missing["demand.messages_per_active_user_per_day"] = f"{counts.size} user-days; need {MIN_OBSERVATIONS}"

    # the busiest hour's share of each day's messages, weighted by the day's messages (ratio of sums)
    by_day_hour: dict[int, np.ndarray] = defaultdict(lambda: np.zeros(24))
    for d in asked:
        by_day_hour[int(d["t"] // 86_400)][int(d["t"] % 86_400 // 3600)] += 1
    day_rows = np.array([[h.max(), h.sum()] for h in by_day_hour.values()])
    if len(day_rows) >= 3:
        figures["demand.peak_hour_share"] = Figure(
            "demand.peak_hour_share",
            _bootstrap(day_rows, lambda rows: rows[:, 0].sum() / rows[:, 1].sum(), seed + 1), len(day_rows), "days")
    else:
        missing["demand.peak_hour_share"] = f"{len(day_rows)} days; need 3 whole days"

    # think time: an answer's save to the user's next message on it, within a session
    gaps = np.array([d["t"] - answers[d["parent"]]["t"] for d in asked
                     if d["parent"] in answers and 0 <= d["t"] - answers[d["parent"]]["t"] < SESSION_GAP_S])
    if gaps.size >= MIN_OBSERVATIONS:
        figures["think_time"] = Figure("think_time", _bootstrap(gaps, np.mean, seed + 2), gaps.size, "follow-ups",
                                       cv=float(gaps.std(ddof=1) / gaps.mean()) if gaps.mean() > 0 else None)
    else:
        missing["think_time"] = f"{gaps.size} follow-up messages within {SESSION_GAP_S / 60:.0f} min of an answer; " \
                                f"need {MIN_OBSERVATIONS}"

    # answer length
    tokens = np.array([float(a["tokens"]) for a in answers.values()
                       if isinstance(a["tokens"], (int, float)) and not isinstance(a["tokens"], bool)
                       and math.isfinite(a["tokens"]) and a["tokens"] > 0])
    if tokens.size >= MIN_OBSERVATIONS:
        figures["llm.output_tokens"] = Figure("llm.output_tokens", _bootstrap(tokens, np.mean, seed + 3), tokens.size,
                                              "answers", cv=float(tokens.std(ddof=1) / tokens.mean()))
    else:
        missing["llm.output_tokens"] = f"{tokens.size} answers with a tokenCount; need {MIN_OBSERVATIONS}"

    # share of messages that open a conversation (each gets a title call)
    first = np.array([1.0 if d["parent"] == NULL_PARENT else 0.0 for d in asked])
    if first.size >= MIN_OBSERVATIONS and first.any():
        figures["new_conversation_share"] = Figure("new_conversation_share", _bootstrap(first, np.mean, seed + 4),
                                                   first.size, "messages")
    else:
        missing["new_conversation_share"] = f"{first.size} messages, {int(first.sum())} opening a conversation"
    return MessageFigures(figures=figures, missing=missing, messages=len(asked), users=len({d["user"] for d in asked}),
                          days=len(days))
