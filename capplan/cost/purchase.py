"""Purchase options compared on one footprint (with break-even months) and per-unit costs."""

from __future__ import annotations

from typing import Any

import datetime as dt
from decimal import Decimal, localcontext

from pydantic import BaseModel, ConfigDict, Field

from capplan.cost.bill import _CONTEXT, PURCHASE_OPTIONS, TERM_MONTHS, Bill, Footprint, Purchase, _sum, bill_deployment, build_bill
from capplan.cost.prices import LlmPriceBook, PriceBook
from capplan.errors import CapplanError


class PurchaseOption(BaseModel):
    """One purchase option's monthly total, set against on demand."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    purchase: Purchase
    term_months: int = Field(description="Commitment term (0: none).")
    monthly_usd: Decimal
    savings_per_month_usd: Decimal = Field(description="On-demand monthly total minus this option's.")
    committed_monthly_usd: Decimal = Field(description="Monthly charge locked in by the commitment (0: none).")
    commitment_usd: Decimal = Field(description="Whole-term obligation: committed_monthly_usd x term_months.")
    break_even_months: Decimal | None = Field(
        description="Months of steady use after which the commitment wins (see compare_purchase_options); None: none."
    )
    bill: Bill


def compare_purchase_options(
    footprint: Any, book: PriceBook, llm_book: LlmPriceBook | None = None, *, today: dt.date | None = None
) -> list[PurchaseOption]:
    """Price ``footprint`` (a :class:`Footprint` or a :class:`capplan.deploy.Deployment`) under every
    purchase option, in PURCHASE_OPTIONS order.

    Break-even of an N-month commitment: the commitment bills the discounted compute
    (``committed_monthly_usd``, C) every month of the term whether you use it or not, so stopping
    after m months costs N x C against m x O on demand (O: the same compute on demand). It wins once
    m > N x C / O = N x (1 - discount): ``break_even_months``. Shorter expected use: stay on demand.
    None for on_demand and spot (no commitment) and when nothing is committed.
    """
    price = build_bill if isinstance(footprint, Footprint) else bill_deployment
    bills = {purchase: price(footprint, book, llm_book, purchase, today=today) for purchase in PURCHASE_OPTIONS}
    on_demand = bills["on_demand"].total_usd
    options = []
    with localcontext(_CONTEXT):
        for purchase, bill in bills.items():
            term = TERM_MONTHS[purchase]
            savings = on_demand - bill.total_usd
            committed = _sum(line.monthly_usd for line in bill.lines if line.discount_fraction) if term else Decimal(0)
            break_even = term * committed / (committed + savings) if term and committed else None
            options.append(
                PurchaseOption(
                    purchase=purchase,  # type: ignore[arg-type]
                    term_months=term,
                    monthly_usd=bill.total_usd,
                    savings_per_month_usd=savings,
                    committed_monthly_usd=committed,
                    commitment_usd=committed * term,
                    break_even_months=break_even,
                    bill=bill,
                )
            )
    return options


class UnitCosts(BaseModel):
    """Per-unit figures of a bill (exact Decimals; round with ``cents`` for display)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    per_active_user_usd: Decimal
    per_1000_messages_usd: Decimal
    infrastructure_per_active_user_usd: Decimal
    infrastructure_per_1000_messages_usd: Decimal
    llm_per_1000_messages_usd: Decimal


def unit_costs(bill: Bill, active_users: int, messages_per_month: int) -> UnitCosts:
    """Monthly cost per active user and per 1,000 messages (total, infrastructure-only, LLM-only)."""
    if active_users <= 0:
        raise CapplanError(f"must be > 0, got {active_users}", field="active_users")
    if messages_per_month <= 0:
        raise CapplanError(f"must be > 0, got {messages_per_month}", field="messages_per_month")
    with localcontext(_CONTEXT):
        users, thousands = Decimal(active_users), Decimal(messages_per_month) / 1000
        return UnitCosts(
            per_active_user_usd=bill.total_usd / users,
            per_1000_messages_usd=bill.total_usd / thousands,
            infrastructure_per_active_user_usd=bill.infrastructure_usd / users,
            infrastructure_per_1000_messages_usd=bill.infrastructure_usd / thousands,
            llm_per_1000_messages_usd=bill.llm_usd / thousands,
        )
