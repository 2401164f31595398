"""The one way capplan shows money: ``$1,057.52``, ``-$3.00``, ``+$12.00`` for a signed delta, ``-`` for none.

Display only: amounts are summed exactly (``Decimal``) elsewhere and rounded here once, half up, to
cents (as :func:`capplan.cost.bill.cents`). Accepts ``Decimal``, ``int``, ``float`` (read through
its shortest repr, so ``0.1`` is 0.1) or a decimal string as found in the JSON documents.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

_CENT = Decimal("0.01")


def _decimal(value: Decimal | float | int | str) -> Decimal | None:
    if isinstance(value, Decimal):
        amount = value
    elif isinstance(value, bool):
        raise TypeError(f"not an amount of money: {value!r}")
    elif isinstance(value, (int, float)):
        amount = Decimal(repr(value)) if isinstance(value, float) else Decimal(value)
    elif isinstance(value, str):
        try:
            amount = Decimal(value.strip().replace(",", "").removeprefix("$"))
        except InvalidOperation:
            raise ValueError(f"not an amount of money: {value!r}") from None
    else:
        raise TypeError(f"not an amount of money: {value!r}")
    return amount if amount.is_finite() else None


def usd(value: Decimal | float | int | str | None, *, signed: bool = False, exact: bool = False) -> str:
    """``$1,057.52``; ``-$3.00`` below zero; ``-`` for None (or NaN / infinity).

    ``signed=True`` (a change, e.g. against a baseline) also marks a rise: ``+$12.00``; zero stays ``$0.00``.
    ``exact=True`` (a unit price) keeps digits past the cent instead of rounding: ``$0.0960``, ``$2.50``.
    """
    if value is None:
        return "-"
    amount = _decimal(value)
    if amount is None:
        return "-"
    if exact and amount.as_tuple().exponent < -2:  # type: ignore[operator]
        shown = abs(amount)
    else:
        shown = abs(amount).quantize(_CENT, rounding=ROUND_HALF_UP)
    if shown == 0:
        return "$" + format(shown, ",f")
    sign = "-" if amount < 0 else "+" if signed else ""
    return f"{sign}${shown:,f}"
