"""Price books: one YAML file per provider under ``pricing/`` (format in ``pricing/README.md``).

Every row carries its provenance (source, observed date, confidence). Money is ``Decimal`` parsed
from quoted strings; a missing price is an error, never 0. Nothing here reads the clock: the date
prices are judged against is passed in.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError, field_validator, model_validator

from capplan.data import data_dir
from capplan.errors import CapplanError
from capplan.files import read_yaml

HOURS_PER_MONTH = Decimal(730)
"""A month is 730 hours (8,760 / 12), the convention of every cloud calculator."""

STALE_AFTER_DAYS = 180
"""A price observed more than this many days before the reference date earns a warning."""

LLM_FILE_STEM = "llm"

Confidence = Literal["confirmed", "derived", "estimate"]
Category = Literal["instance", "cache", "database", "queue"]
CATEGORIES: tuple[str, ...] = ("instance", "cache", "database", "queue")

# Billing units, grouped by how a bill turns a footprint into a quantity (see capplan.cost.bill).
RESOURCE_HOUR_UNITS = frozenset({"hour", "cluster-hour", "node-hour", "instance-hour", "broker-hour", "TU-hour"})
CAPACITY_UNIT_HOUR_UNITS = frozenset({"LCU-hour", "CU-hour"})
Unit = Literal[
    "hour", "cluster-hour", "node-hour", "instance-hour", "broker-hour", "TU-hour",  # one resource running
    "LCU-hour", "CU-hour",  # load-balancer capacity units consumed per hour
    "GB-hour",  # GB of provisioned capacity per hour (e.g. Memorystore)
    "GB-month",  # storage
    "month",  # one fixed-size resource for a month (e.g. a 128 GB managed disk)
    "GB", "GiB",  # data transferred or processed
    "million-IO",  # a million I/O requests
    "fraction",  # a discount: fraction off on-demand (discount.* rows)
]

_OBSERVED_RE = re.compile(r"^(\d{4})-(\d{2})(?:-(\d{2}))?$")
_ID_RE = r"^[A-Za-z0-9][A-Za-z0-9._-]*$"
_PROVIDER_RE = re.compile(r"^[a-z0-9][a-z0-9_-]*$")


def _decimal_string(value: Any) -> Decimal:
    """Parse a money amount given as a quoted string; floats and bare numbers are refused."""
    if not isinstance(value, str):
        raise ValueError(f'must be a quoted decimal string such as "0.096", got {value!r}')
    try:
        amount = Decimal(value.strip())
    except InvalidOperation:
        raise ValueError(f"{value!r} is not a number") from None
    if not amount.is_finite() or amount < 0:
        raise ValueError(f"{value!r} must be a finite, non-negative number")
    return amount


def _parse_observed(observed: str) -> dt.date | None:
    """First day of the observed month (YYYY-MM) or the day (YYYY-MM-DD); None for "unknown"."""
    if observed == "unknown":
        return None
    match = _OBSERVED_RE.match(observed)
    if match is None:
        raise ValueError(f"{observed!r} is not YYYY-MM, YYYY-MM-DD or 'unknown'")
    year, month, day = match.groups()
    try:
        return dt.date(int(year), int(month), int(day or 1))
    except ValueError:
        raise ValueError(f"{observed!r} is not a real date") from None


class _Provenance(BaseModel):
    """Where a price came from and how sure we are of it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(pattern=_ID_RE, description="Stable SKU-like id, e.g. ec2.m6i.large.")
    description: str = Field(min_length=1)
    source: str = Field(min_length=1, description="Where the number came from.")
    observed: str = Field(description='When it was observed: YYYY-MM, YYYY-MM-DD or "unknown".')
    confidence: Confidence

    @field_validator("observed", mode="before")
    @classmethod
    def _observed(cls, value: Any) -> Any:
        if isinstance(value, dt.date):  # YAML reads an unquoted 2024-07-01 as a date
            value = value.isoformat()
        if isinstance(value, str):
            _parse_observed(value)
        return value

    def observed_date(self) -> dt.date | None:
        """The observed date (first day of the month for YYYY-MM), or None when unknown."""
        return _parse_observed(self.observed)


class PriceRow(_Provenance):
    """One price of one provider: a SKU-like id, its unit and USD per unit (or a discount fraction)."""

    unit: Unit
    usd: Decimal | None = Field(None, description="USD per unit; a quoted string in YAML.")
    fraction: Decimal | None = Field(None, description="Only for unit 'fraction': share taken off on-demand.")
    region: str = Field(min_length=1)
    category: Category | None = Field(None, description="instance | cache | database | queue, for sized rows.")
    vcpu: Decimal | None = Field(None, gt=0)
    memory_gib: Decimal | None = Field(None, gt=0)
    burstable: bool = Field(False, description="CPU-credit type (t3, e2-medium, B-series): not for steady load.")
    size_gb: Decimal | None = Field(None, gt=0, description="Only for unit 'month': size of one fixed-size disk.")
    max_quantity: Decimal | None = Field(
        None, gt=0, description="Monthly quantity up to which this (first-tier) price holds; a bill warns past it."
    )

    @field_validator("usd", "fraction", mode="before")
    @classmethod
    def _money(cls, value: Any) -> Any:
        return None if value is None else _decimal_string(value)

    @model_validator(mode="after")
    def _consistent(self) -> PriceRow:
        if self.unit == "fraction":
            if self.fraction is None or self.usd is not None:
                raise ValueError("a row with unit 'fraction' needs 'fraction' and no 'usd'")
            if self.fraction >= 1:
                raise ValueError(f"fraction {self.fraction} must be below 1")
        elif self.usd is None:
            raise ValueError(f"field 'usd' is required (unit {self.unit!r})")
        elif self.fraction is not None:
            raise ValueError("'fraction' is only for rows with unit 'fraction'")
        if self.category is None and (self.vcpu is not None or self.memory_gib is not None):
            raise ValueError("'vcpu' and 'memory_gib' need a 'category'")
        if self.category is not None and (self.vcpu is None or self.memory_gib is None):
            raise ValueError(f"a row with category {self.category!r} needs both 'vcpu' and 'memory_gib'")
        if self.size_gb is not None and self.unit != "month":
            raise ValueError("'size_gb' is only for rows with unit 'month'")
        return self

    @property
    def price(self) -> Decimal:
        """USD per unit; a discount row has no price and raises."""
        if self.usd is None:
            raise CapplanError(f"price row {self.id!r} is a discount fraction, not a price")
        return self.usd


class PriceBook(BaseModel):
    """All prices of one provider in one region, with a role map naming the rows a bill uses by default."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    provider: str = Field(pattern=_PROVIDER_RE.pattern)
    region: str = Field(min_length=1)
    currency: Literal["USD"]
    roles: dict[str, str] = Field(
        default_factory=dict, description="Part of a bill -> row id (kubernetes_control_plane, lb_hour, egress ...)."
    )
    rows: tuple[PriceRow, ...] = Field(min_length=1)

    _index: dict[str, PriceRow] = PrivateAttr(default_factory=dict)

    @model_validator(mode="after")
    def _unique_and_roles(self) -> PriceBook:
        seen: set[str] = set()
        for row in self.rows:
            if row.id in seen:
                raise ValueError(f"duplicate row id {row.id!r}")
            seen.add(row.id)
        for role, row_id in self.roles.items():
            if row_id not in seen:
                raise ValueError(f"role {role!r} points at {row_id!r}, which is not a row of this book")
        return self

    def model_post_init(self, context: Any) -> None:
        self._index = {row.id: row for row in self.rows}

    def get(self, row_id: str) -> PriceRow:
        """The row with this id; a missing row raises (a missing price is never 0)."""
        try:
            return self._index[row_id]
        except KeyError:
            raise CapplanError(
                f"no price row {row_id!r} in the {self.provider} price book ({self.region}); "
                f"add it to pricing/{self.provider}.yaml or your own price folder (a missing price is never 0)"
            ) from None

    def role(self, name: str) -> PriceRow:
        """The row playing ``name`` (e.g. "egress") in this provider's bills."""
        if name not in self.roles:
            raise CapplanError(
                f"the {self.provider} price book has no row for role {name!r}; "
                f"add 'roles: {{{name}: <row id>}}' to pricing/{self.provider}.yaml"
            )
        return self.get(self.roles[name])

    def instances(self, category: str = "instance") -> tuple[PriceRow, ...]:
        """Sized rows of ``category`` (instance | cache | database | queue), cheapest first, ties by id."""
        if category not in CATEGORIES:
            raise CapplanError(f"unknown category {category!r}; known: {', '.join(CATEGORIES)}", field="category")
        rows = [row for row in self.rows if row.category == category]
        return tuple(sorted(rows, key=lambda row: (row.price, row.id)))

    def with_rows(self, rows: Iterable[PriceRow]) -> PriceBook:
        """A copy with ``rows`` added, replacing rows of the same id (negotiated or custom prices)."""
        replaced = {row.id: row for row in rows}
        merged = [replaced.pop(row.id, row) for row in self.rows] + list(replaced.values())
        return PriceBook(
            provider=self.provider,
            region=self.region,
            currency=self.currency,
            roles=dict(self.roles),
            rows=tuple(merged),
        )


class LlmPriceRow(_Provenance):
    """Token prices of one model, USD per million input and output tokens."""

    input_usd_per_mtok: Decimal
    output_usd_per_mtok: Decimal

    @field_validator("input_usd_per_mtok", "output_usd_per_mtok", mode="before")
    @classmethod
    def _money(cls, value: Any) -> Any:
        return _decimal_string(value)


class LlmPriceBook(BaseModel):
    """The LLM token price list (``pricing/llm.yaml``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: Literal["llm"]
    currency: Literal["USD"]
    rows: tuple[LlmPriceRow, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique(self) -> LlmPriceBook:
        ids = [row.id for row in self.rows]
        for row_id in ids:
            if ids.count(row_id) > 1:
                raise ValueError(f"duplicate model id {row_id!r}")
        return self

    def get(self, model_id: str) -> LlmPriceRow:
        """The model's row; a missing model raises (never priced at 0)."""
        for row in self.rows:
            if row.id == model_id:
                return row
        known = ", ".join(row.id for row in self.rows)
        raise CapplanError(f"no LLM price for model {model_id!r} in pricing/llm.yaml; known models: {known}")


def known_providers(directory: Path | None = None) -> list[str]:
    """Provider names that have a price book (``<name>.yaml``) in ``directory``, sorted."""
    folder = Path(directory) if directory is not None else data_dir("pricing")
    return sorted(p.stem for p in folder.glob("*.yaml") if p.stem != LLM_FILE_STEM and _PROVIDER_RE.match(p.stem))


def load_price_book(provider: str, directory: Path | None = None) -> PriceBook:
    """Load and validate ``<directory>/<provider>.yaml`` (default: the bundled ``pricing/``)."""
    folder = Path(directory) if directory is not None else data_dir("pricing")
    known = known_providers(folder)
    name = provider.strip().lower() if isinstance(provider, str) else ""
    if name not in known:
        raise CapplanError(
            f"unknown provider {provider!r}; known providers: {', '.join(known) or '(none)'} (price books in {folder})",
            field="provider",
        )
    path = folder / f"{name}.yaml"
    book = _validate(PriceBook, _read_yaml(path), path)
    if book.provider != name:
        raise CapplanError(f"provider is {book.provider!r} but the file is named {path.name}", field=str(path))
    return book


def load_price_book_file(path: Path | str, provider: str | None = None) -> PriceBook:
    """Load and validate one price-book file anywhere (e.g. written by ``capplan prices refresh``).

    Validated exactly like the bundled books; with ``provider``, a book of another provider is refused.
    """
    file = Path(path)
    if file.is_dir():
        raise CapplanError("is a folder, not a price-book file", field=str(file))
    book = _validate(PriceBook, _read_yaml(file), file)
    if provider is not None and book.provider != provider.strip().lower():
        raise CapplanError(f"this is the {book.provider} price book, not {provider}'s", field=str(file))
    return book


def load_llm_prices(directory: Path | None = None) -> LlmPriceBook:
    """Load and validate ``<directory>/llm.yaml`` (default: the bundled ``pricing/``)."""
    folder = Path(directory) if directory is not None else data_dir("pricing")
    path = folder / f"{LLM_FILE_STEM}.yaml"
    return _validate(LlmPriceBook, _read_yaml(path), path)


PriceIssue = Literal["estimate", "unknown_date", "stale", "future"]


class PriceWarning(BaseModel):
    """Why one price row used by a bill is doubtful: the per-row detail behind the one summary line."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str
    where: str = Field(description="The row's region, or 'llm' for an LLM token price.")
    confidence: Confidence
    source: str
    observed: str
    age_days: int | None = Field(description="Days from observed to the reference date; None when unknown.")
    issues: tuple[PriceIssue, ...]
    message: str = Field(description="The same as one line of text.")


def _distinct(rows: Iterable[PriceRow | LlmPriceRow]) -> list[PriceRow | LlmPriceRow]:
    seen: set[tuple[str, str, str]] = set()
    out: list[PriceRow | LlmPriceRow] = []
    for row in rows:
        key = (type(row).__name__, row.id, getattr(row, "region", ""))
        if key not in seen:
            seen.add(key)
            out.append(row)
    return out


def price_row_warnings(rows: Iterable[PriceRow | LlmPriceRow], today: dt.date) -> list[PriceWarning]:
    """One :class:`PriceWarning` per distinct row that is an estimate, has an unknown date, or is stale.

    Stale means observed more than ``STALE_AFTER_DAYS`` days before ``today``; a YYYY-MM date counts
    from the first of that month (the conservative reading). A date after ``today`` is flagged too.
    """
    out: list[PriceWarning] = []
    for row in _distinct(rows):
        issues: list[str] = []
        reasons: list[str] = []
        if row.confidence == "estimate":
            issues.append("estimate")
            reasons.append(f"estimate, not a confirmed price (source: {row.source})")
        observed = row.observed_date()
        age = None if observed is None else (today - observed).days
        if observed is None:
            issues.append("unknown_date")
            reasons.append("observed date unknown")
        elif age > STALE_AFTER_DAYS:
            issues.append("stale")
            reasons.append(
                f"observed {row.observed}, {age} days before {today.isoformat()} (older than {STALE_AFTER_DAYS} days)"
            )
        elif observed > today:
            issues.append("future")
            reasons.append(f"observed {row.observed}, after the reference date {today.isoformat()}")
        if issues:
            where = row.region if isinstance(row, PriceRow) else "llm"
            out.append(PriceWarning(
                id=row.id, where=where, confidence=row.confidence, source=row.source, observed=row.observed,
                age_days=age, issues=tuple(issues),  # type: ignore[arg-type]
                message=f"price {row.id!r} [{where}]: " + "; ".join(reasons),
            ))
    return out


def price_warnings(rows: Iterable[PriceRow | LlmPriceRow], today: dt.date) -> list[str]:
    """One line per distinct row that is an estimate, has an unknown date, or is stale (the messages of
    :func:`price_row_warnings`). A bill shows :func:`price_warning_summary` instead and keeps these as detail."""
    return [w.message for w in price_row_warnings(rows, today)]


def _count(n: int, one: str, many: str) -> str:
    return f"{n} {one if n == 1 else many}"


def price_warning_summary(rows: Iterable[PriceRow | LlmPriceRow], today: dt.date,
                          provider: str | None = None) -> str | None:
    """At most one line for all of :func:`price_row_warnings`; None when every row is confirmed and recent.

    E.g. ``prices: 7 of 23 rows are older than 180 days (oldest: ebs.gp3, observed 2024-07, 880 days),
    4 are unconfirmed estimates; refresh with `capplan prices refresh --provider aws` (then `capplan cost
    --prices FILE`); per-row details: price_warnings in the JSON output``.
    """
    distinct = _distinct(rows)
    details = price_row_warnings(distinct, today)
    if not details:
        return None
    stale = [w for w in details if "stale" in w.issues]
    estimates = [w for w in details if "estimate" in w.issues]
    undated = [w for w in details if "unknown_date" in w.issues and "estimate" not in w.issues]
    future = [w for w in details if "future" in w.issues]
    parts: list[str] = []
    if stale:
        oldest = max(stale, key=lambda w: w.age_days or 0)  # ties: the first the bill uses
        parts.append(("1 is" if len(stale) == 1 else f"{len(stale)} are") + f" older than {STALE_AFTER_DAYS} days "
                     f"(oldest: {oldest.id}, observed {oldest.observed}, {oldest.age_days} days)")
    if estimates:
        parts.append("1 is an unconfirmed estimate" if len(estimates) == 1
                     else f"{len(estimates)} are unconfirmed estimates")
    if undated:
        parts.append(("1 has" if len(undated) == 1 else f"{len(undated)} have") + " no observed date")
    if future:
        parts.append(("1 is" if len(future) == 1 else f"{len(future)} are") + f" dated after {today.isoformat()}")
    first_count = parts[0].split(" ", 1)
    parts[0] = f"{first_count[0]} of {_count(len(distinct), 'row', 'rows')} " + first_count[1]
    refresh = "`capplan prices refresh" + (f" --provider {provider}`" if provider else "`")
    return (f"prices: {', '.join(parts)}; refresh with {refresh} (then `capplan cost --prices FILE`); "
            "per-row details: price_warnings in the JSON output")


def _read_yaml(path: Path) -> Any:
    data = read_yaml(path)
    if not isinstance(data, dict):
        raise CapplanError("expected a mapping with currency and rows at the top level", field=str(path))
    return data


def _validate(model: type[BaseModel], data: dict[str, Any], path: Path) -> Any:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise CapplanError("; ".join(_describe(err, data) for err in exc.errors()[:5]), field=str(path)) from None


def _describe(err: Any, data: dict[str, Any]) -> str:
    """'rows[3] (id 'ec2.m6i.large') field 'usd': <problem>' from one pydantic error."""
    loc = list(err["loc"])
    where = ""
    if len(loc) >= 2 and loc[0] == "rows" and isinstance(loc[1], int):
        index = loc[1]
        rows = data.get("rows")
        row_id = rows[index].get("id") if isinstance(rows, list) and isinstance(rows[index], dict) else None
        where = f"rows[{index}]" + (f" (id {row_id!r})" if row_id else "") + " "
        loc = loc[2:]
    field = ".".join(str(part) for part in loc)
    message = str(err["msg"]).removeprefix("Value error, ")
    if err["type"] == "missing":
        message = "required field is missing"
    elif err["type"] == "extra_forbidden":
        message = "unknown field (typo?)"
    if field:
        return f"{where}field {field!r}: {message}"
    return f"{where.strip()}: {message}" if where else message
