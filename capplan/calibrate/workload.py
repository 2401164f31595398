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
from capplan.errors import CapplanError
from capplan.files import parse_yaml
from capplan.model.loader import load_workload
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


def _default(base: Workload, key: str) -> float:
    node = base
    for part in key.split("."):
        node = getattr(node, part)
    return float(node.mean) if hasattr(node, "mean") else float(node)


def rows_from(base: Workload, messages: MessageFigures | None, log: AccessLog | None,
              sources: dict[str, str], seed: int = 0) -> tuple[list[Row], dict[str, str]]:
    """The fitted rows and, per workload key that could not be fitted, why."""
    rows: list[Row] = []
    missing: dict[str, str] = {}
    if messages is not None:
        for key, fig in messages.figures.items():
            rows.append(Row(key, _default(base, key), fig.fitted, f"{fig.observations:,} {fig.what} "
                            f"({sources['messages']})", fig.cv))
        missing.update(messages.missing)
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
        if row.cv is not None:   # a distribution: the fitted mean and shape (gamma takes any cv > 0)
            value = f"{{kind: gamma, mean: {_number(row.fitted.value)}, cv: {_number(max(row.cv, 0.01))}}}"
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
    """The fitted text, loaded through the schema exactly as `--workload` would load it."""
    import tempfile
    from pathlib import Path

    parse_yaml(text, source)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "fitted.yaml"
        path.write_text(text, encoding="utf-8")
        try:
            return load_workload(path)
        except CapplanError as exc:   # a fitted value outside the schema's bounds: say which
            raise CapplanError(f"the fitted workload is not valid: {str(exc).split(': ', 1)[-1]}", field=source) from None
