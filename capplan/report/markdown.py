"""Markdown for pull-request comments (GitHub, GitLab, Bitbucket render it alike)."""

from __future__ import annotations

from typing import Any


def _money(value: str | None) -> str:
    return "-" if value is None else f"${float(value):,.2f}"


def _delta(value: str | None) -> str:
    if value is None:
        return "-"
    v = float(value)
    return f"{'+' if v > 0 else ''}{v:,.2f}"


def check_markdown(doc: dict[str, Any]) -> str:
    ok = doc["verdict"] == "pass"
    out = []
    users = doc["users"]
    where = f"**{doc['tier']}** on **{doc['provider']}**" if doc.get("tier") else "no feasible tier"
    cost = doc.get("cost")
    headline = f"{_money(cost['monthly_usd'])}/month ({cost['scope']})" if cost else "no cost"
    out.append(f"### capplan check: {'✅ pass' if ok else '❌ fail'} - {doc['plan']}")
    out.append("")
    out.append(f"{where} for {users['forecast']:,} users (now {users['now']:,}): {headline}"
               + (f", budget {_money(cost['budget_usd'])}" if cost else ""))
    if doc["reasons"]:
        out.append("")
        for reason in doc["reasons"]:
            out.append(f"- ❌ {reason}")
    if cost:
        out.append("")
        base = cost["baseline_usd"] is not None
        out.append("| cost line | monthly" + (" | baseline | delta |" if base else " |"))
        out.append("| --- | ---:" + (" | ---: | ---: |" if base else " |"))
        for line in cost["lines"]:
            row = f"| {line['line']} | {_money(line['monthly_usd'])}"
            row += f" | {_money(line['baseline_usd'])} | {_delta(line['delta_usd'])} |" if base else " |"
            out.append(row)
        total = f"| **total ({cost['scope']}, {cost['purchase']})** | **{_money(cost['monthly_usd'])}**"
        if base:
            pct = f" ({cost['delta_pct']:+.1f}%)" if cost["delta_pct"] is not None else ""
            total += f" | {_money(cost['baseline_usd'])} | {_delta(cost['delta_usd'])}{pct} |"
        else:
            total += " |"
        out.append(total)
        if cost["scope"] == "infrastructure":
            out.append("")
            out.append(f"LLM tokens, outside the budget's scope: {_money(cost['llm_usd'])}/month")
    if doc["slo"]:
        out.append("")
        out.append("| SLO | target | forecast | 95% CI high | margin | delta vs baseline |")
        out.append("| --- | ---: | ---: | ---: | ---: | ---: |")
        for row in doc["slo"]:
            unit = "" if row["metric"] == "failed share" else " s"
            delta = "-" if row["delta_s"] is None else f"{row['delta_s']:+.3g}{unit}"
            out.append(f"| {row['metric']} | {row['target_s']:g}{unit} | {row['forecast_s']:.3g}{unit} | "
                       f"{row['ci95_high_s']:.3g}{unit} | {row['margin_s']:+.3g}{unit} | {delta} |")
    if doc["warnings"]:
        out.append("")
        out.append("<details><summary>⚠️ price warnings (" + str(len(doc["warnings"])) + ")</summary>")
        out.append("")
        for w in doc["warnings"]:
            out.append(f"- {w}")
        out.append("")
        out.append("</details>")
    out.append("")
    out.append(f"<sub>capplan {doc['capplan_version']}, seed {doc['seed']}</sub>")
    return "\n".join(out) + "\n"
