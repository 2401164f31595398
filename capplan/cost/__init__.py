"""Cost: price books (``prices``), bills of materials (``bill``), purchase options and unit costs
(``purchase``). A deployment (capplan.deploy) is priced by ``bill_deployment``; ``build_bill`` prices
a hand-written :class:`Footprint` (what-if bills without a plan).

Money is ``decimal.Decimal`` throughout, a month is 730 hours, and every price carries its source,
observed date and confidence. Nothing here prints, exits or reads the clock.
"""

from capplan.cost.bill import (
    PURCHASE_OPTIONS,
    Bill,
    Extra,
    Footprint,
    LineItem,
    bill_deployment,
    build_bill,
    cents,
    choose_instance,
    lb_capacity_units,
)
from capplan.cost.purchase import PurchaseOption, UnitCosts, compare_purchase_options, unit_costs
from capplan.cost.prices import (
    HOURS_PER_MONTH,
    STALE_AFTER_DAYS,
    LlmPriceBook,
    LlmPriceRow,
    PriceBook,
    PriceRow,
    known_providers,
    load_llm_prices,
    load_price_book,
    price_warnings,
)

__all__ = [
    "HOURS_PER_MONTH",
    "PURCHASE_OPTIONS",
    "STALE_AFTER_DAYS",
    "Bill",
    "Extra",
    "Footprint",
    "LineItem",
    "LlmPriceBook",
    "LlmPriceRow",
    "PriceBook",
    "PriceRow",
    "PurchaseOption",
    "UnitCosts",
    "bill_deployment",
    "build_bill",
    "cents",
    "choose_instance",
    "compare_purchase_options",
    "known_providers",
    "lb_capacity_units",
    "load_llm_prices",
    "load_price_book",
    "price_warnings",
    "unit_costs",
]
