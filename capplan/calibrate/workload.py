"""Fitted figures as a workload file: the base workload (``extends:``) with each fitted number over
it, and a comment on every fitted line saying where it came from, its 95% interval and what it
rests on. The text is loaded back through the workload schema before anyone sees it, so a fitted
file is always one ``capplan simulate --workload`` accepts."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from capplan.calibrate.accesslog import AccessLog
from capplan.calibrate.fit import Fitted
from capplan.calibrate.messages import MessageFigures
from capplan.calibrate.metrics import Estimate, MetricFigures
from capplan.errors import CapplanError
from capplan.files import parse_yaml
from capplan.model.loader import workload_from_data
from capplan.model.workload import Workload

MIN_MESSAGES_FOR_MIX = 30


@dataclass(frozen=True)
class Row:
    """One line of the "default vs fitted" table."""

    key: str
    default: float
    fitted: Fitted
    basis: str          # "300 user-days (messages.json)"
    cv: float | None = None
    kind: str | None = None   # a distribution's kind (None: a plain number)


def _node(base: Workload, key: str):
    node = base
    for part in key.split("."):
        node = getattr(node, part)
    return node


def _default(base: Workload, key: str) -> float:
    node = _node(base, key)
    return float(node.mean) if hasattr(node, "mean") else float(node)


def _metric_row(base: Workload, estimate: Estimate) -> Row:
    """A metrics figure as a row: a distribution keeps the base's kind (and its cv when the metrics
    give none); a plain number stays one."""
    node = _node(base, estimate.key)
    kind = getattr(node, "kind", None)
    cv = estimate.cv
    if kind == "erlang" and cv is not None:   # a fitted cv is rarely 1/sqrt(whole phases)
        kind = "gamma"
    if kind is not None and cv is None and kind not in ("exponential", "deterministic"):
        cv = float(node.cv)
    return Row(estimate.key, _default(base, estimate.key), estimate.fitted, estimate.basis, cv, kind)


def rows_from(base: Workload, messages: MessageFigures | None, log: AccessLog | None,
              sources: dict[str, str], seed: int = 0,
              metrics: MetricFigures | None = None) -> tuple[list[Row], dict[str, str]]:
    """The fitted rows and, per workload key that could not be fitted, why. A key both the messages
    export and the metrics give (the answers' length) is taken from the export, which also gives
    its spread."""
    rows: list[Row] = []
    missing: dict[str, str] = {}
    if messages is not None:
        for key, fig in messages.figures.items():
            rows.append(Row(key, _default(base, key), fig.fitted, f"{fig.observations:,} {fig.what} "
                            f"({sources['messages']})", fig.cv, "gamma" if fig.cv is not None else None))
        missing.update(messages.missing)
    if metrics is not None:
        have = {row.key for row in rows}
        rows += [_metric_row(base, e) for e in metrics.estimates if e.key not in have]
        for key, why in metrics.missing.items():
            if key.split(" ")[0] not in have:
                missing[key] = why
    if log is not None:
        posts, reads = log.count("message"), log.count("api_read")
        if posts >= MIN_MESSAGES_FOR_MIX:
            # reads per message with a Poisson-ratio interval (counts over the same span)
            ratio = reads / posts
            half = 1.96 * ratio * float(np.sqrt(1.0 / max(reads, 1) + 1.0 / posts))
            rows.append(Row("api_reads_per_message", _default(base, "api_reads_per_message"),
                            Fitted(ratio, max(ratio - half, 0.0), ratio + half),
                            f"{reads:,} reads / {posts:,} messages ({sources['access_log']})"))
        else:
            missing["api_reads_per_message"] = f"{posts} message POSTs in the log; need {MIN_MESSAGES_FOR_MIX}"
    return rows, missing


def _number(x: float) -> str:
    return f"{x:.4g}"


def workload_text(rows: list[Row], base_name: str, name: str, header: str) -> str:
    """The fitted workload as YAML: ``extends: base`` and each fitted key with its comment."""
    top: dict[str, list[str]] = {}
    for row in rows:
        section, _, leaf = row.key.rpartition(".")
        note = f"# fitted: 95% CI {_number(row.fitted.low)}-{_number(row.fitted.high)}, {row.basis}"
        if row.kind in ("exponential", "deterministic"):
            value = f"{{kind: {row.kind}, mean: {_number(row.fitted.value)}}}"
        elif row.kind is not None:   # a distribution: the fitted mean and shape
            value = f"{{kind: {row.kind}, mean: {_number(row.fitted.value)}, cv: {_number(max(row.cv, 0.01))}}}"
        else:
            value = _number(row.fitted.value)
        top.setdefault(section, []).append(f"{leaf if section else row.key}: {value}   {note}")
    lines = [f"# {line}" for line in header.splitlines()]
    lines += ["kind: workload", f"name: {name}", f"extends: {base_name}   # every number not fitted here is "
              f"{base_name}'s (capplan workload show {base_name})"]
    lines += top.pop("", [])
    for section, entries in top.items():
        indent = ""
        for depth, part in enumerate(section.split(".")):
            lines.append(f"{'  ' * depth}{part}:")
            indent = "  " * (depth + 1)
        lines += [indent + entry for entry in entries]
    return "\n".join(lines) + "\n"


def check_loads(text: str, source: str) -> Workload:
    """The fitted text, loaded through the schema exactly as `--workload` would load it from
    ``source`` (where it will be written: a relative ``extends:`` resolves from there)."""
    try:
        return workload_from_data(parse_yaml(text, source), source)
    except CapplanError as exc:   # a fitted value outside the schema's bounds: say which
        raise CapplanError(f"the fitted workload is not valid: {str(exc).split(': ', 1)[-1]}", field=source) from None
