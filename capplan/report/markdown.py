"""Markdown for pull-request comments (GitHub, GitLab, Bitbucket render it alike)."""

from __future__ import annotations

from typing import Any

from capplan.report.money import usd


def _delta(value: str | None) -> str:
    return usd(value, signed=True)


def _price_rows(doc: dict[str, Any]) -> list[Any]:
    """Per-row price warnings: the check document's own list, else the chosen bill's (absent in older documents)."""
    if doc.get("price_warnings"):
        return list(doc["price_warnings"])
    chosen = doc.get("chosen") or {}
    return list((chosen.get("bill") or {}).get("price_warnings") or [])


def check_markdown(doc: dict[str, Any]) -> str:
    ok = doc["verdict"] == "pass"
    out = []
    users = doc["users"]
    where = f"**{doc['tier']}** on **{doc['provider']}**" if doc.get("tier") else "no feasible tier"
    cost = doc.get("cost")
    headline = f"{usd(cost['monthly_usd'])}/month ({cost['scope']})" if cost else "no cost"
    out.append(f"### capplan check: {'✅ pass' if ok else '❌ fail'} - {doc['plan']}")
    out.append("")
    out.append(f"{where} for {users['forecast']:,} users (now {users['now']:,}): {headline}"
               + (f", budget {usd(cost['budget_usd'])}" if cost else ""))
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
            row = f"| {line['line']} | {usd(line['monthly_usd'])}"
            row += f" | {usd(line['baseline_usd'])} | {_delta(line['delta_usd'])} |" if base else " |"
            out.append(row)
        total = f"| **total ({cost['scope']}, {cost['purchase']})** | **{usd(cost['monthly_usd'])}**"
        if base:
            pct = f" ({cost['delta_pct']:+.1f}%)" if cost["delta_pct"] is not None else ""
            total += f" | {usd(cost['baseline_usd'])} | {_delta(cost['delta_usd'])}{pct} |"
        else:
            total += " |"
        out.append(total)
        if cost["scope"] == "infrastructure":
            out.append("")
            out.append(f"LLM tokens, outside the budget's scope: {usd(cost['llm_usd'])}/month")
    if doc["slo"]:
        out.append("")
        out.append("| SLO | target | forecast | 95% CI high | margin | delta vs baseline |")
        out.append("| --- | ---: | ---: | ---: | ---: | ---: |")
        for row in doc["slo"]:
            unit = "" if row["metric"] == "failed share" else " s"
            delta = "-" if row["delta_s"] is None else f"{row['delta_s']:+.3g}{unit}"
            out.append(f"| {row['metric']} | {row['target_s']:g}{unit} | {row['forecast_s']:.3g}{unit} | "
                       f"{row['ci95_high_s']:.3g}{unit} | {row['margin_s']:+.3g}{unit} | {delta} |")
    day = doc.get("day")
    if day and day.get("simulated"):
        out.append("")
        out.append(f"A day ({day['profile']} profile) with the HPA at {day['hpa_min']}-{day['hpa_max']} pods: "
                   f"{day['slo_violation_minutes']} SLO-violation minutes of {day['minutes']}, at most "
                   f"{day['pods_max']} pods; autoscaled {usd(day['autoscaled_monthly_usd'])}/month against "
                   f"{usd(day['fixed_monthly_usd'])} fixed at peak size")
    details = _price_rows(doc)
    if doc["warnings"] or details:
        out.append("")
        out.append(f"<details><summary>⚠️ warnings ({len(doc['warnings'])})</summary>")
        out.append("")
        for w in doc["warnings"]:
            out.append(f"- {w}")
        if details:
            out.append("")
            out.append(f"price warnings, row by row ({len(details)}):")
            out.append("")
            for w in details:
                out.append(f"- {w['message'] if isinstance(w, dict) else w}")
        out.append("")
        out.append("</details>")
    out.append("")
    out.append(f"<sub>capplan {doc['capplan_version']}, seed {doc['seed']}</sub>")
    return "\n".join(out) + "\n"
