"""Bill of materials: a footprint priced as traceable line items (Infracost style).

Each line names its component, the price row it used, quantity x unit price = monthly USD, and the
row's confidence and observed date. Totals are exact sums of the lines (``Decimal``, never float,
never rounded before summing; ``cents`` rounds for display only). A month is 730 hours.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from decimal import ROUND_CEILING, ROUND_HALF_EVEN, ROUND_HALF_UP, Context, Decimal, localcontext
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, computed_field, model_validator

from capplan.cost.prices import (
    CAPACITY_UNIT_HOUR_UNITS,
    HOURS_PER_MONTH,
    RESOURCE_HOUR_UNITS,
    Confidence,
    LlmPriceBook,
    LlmPriceRow,
    PriceBook,
    PriceRow,
    PriceWarning,
    price_row_warnings,
    price_warning_summary,
)
from capplan.errors import CapplanError

Purchase = Literal["on_demand", "commit_1y", "commit_3y", "spot"]
PURCHASE_OPTIONS: tuple[str, ...] = ("on_demand", "commit_1y", "commit_3y", "spot")
TERM_MONTHS = {"on_demand": 0, "commit_1y": 12, "commit_3y": 36, "spot": 0}
NEGOTIATED_DISCOUNT_ROW = "discount.negotiated"
"""Optional row (unit fraction): a negotiated discount off every infrastructure line (e.g. an EDP)."""

_CONTEXT = Context(prec=28, rounding=ROUND_HALF_EVEN)  # fixed, so results never depend on the caller's context
_GIB_PER_GB = Decimal("0.931322574615478515625")  # 10**9 / 2**30, exact
_MILLION = Decimal(1_000_000)
_RANK = {"estimate": 0, "derived": 1, "confirmed": 2}
_PER_HOUR = RESOURCE_HOUR_UNITS | CAPACITY_UNIT_HOUR_UNITS


class Extra(BaseModel):
    """Anything else to price from the book: a Meilisearch VM, DocumentDB storage, MSK storage ...

    Deployment-wide (not multiplied by ``regions``). ``quantity`` is the number of resources running
    all month for hourly rows (hour, node-hour ...), GB of capacity for GB-hour rows, average capacity
    units for LCU-hour/CU-hour rows, and otherwise the monthly amount in the row's unit (GB-month,
    GB, million-IO, month).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    component: str = Field(min_length=1, description="Bill component name, e.g. 'search'.")
    row_id: str = Field(min_length=1, description="Price row id in the provider's book.")
    quantity: Decimal = Field(ge=0)
    variable: bool = Field(False, description="True when it scales with traffic rather than being provisioned.")


class Footprint(BaseModel):
    """WHAT to price: one tier on one provider. The planner fills it from the simulation.

    Resource counts are PER REGION (multiplied by ``regions``); volumes (GB, capacity units, tokens)
    are monthly TOTALS for the whole deployment. Row ids refer to the provider's price book.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    tier: str = Field(min_length=1, description="Tier name, e.g. 'medium'.")
    provider: str = Field(min_length=1, description="aws | gcp | azure; must match the price book.")
    regions: int = Field(1, ge=1, description="Number of regions; every per-region count is multiplied by it.")
    kubernetes_clusters: int = Field(
        0, ge=0, description="Managed Kubernetes control planes per region (0: docker compose on VMs)."
    )
    app_instance: str = Field(min_length=1, description="Row id of the app node type (category instance).")
    app_nodes: int = Field(ge=1, description="App nodes per region (stateless: the only lines spot discounts).")
    load_balancers: int = Field(0, ge=0, description="Load balancers per region, billed per hour.")
    lb_processed_gb: Decimal = Field(
        Decimal(0), ge=0, description="GB/month through all LBs; billed where the book prices LB usage per GB (GCP)."
    )
    lb_capacity_units: Decimal = Field(
        Decimal(0),
        ge=0,
        description="Average LB capacity units per hour over all LBs (AWS LCU, Azure CU); see lb_capacity_units().",
    )
    nat_gateways: int = Field(0, ge=0, description="NAT gateways per region, billed per hour.")
    nat_processed_gb: Decimal = Field(
        Decimal(0), ge=0, description="GB/month through the NAT gateways (outbound calls to LLM APIs ...)."
    )
    mongodb_mode: Literal["managed", "self_hosted"] = Field(description="Managed service, or MongoDB on VMs.")
    mongodb_row: str = Field(
        min_length=1, description="managed: the service row (atlas.m30 ...); self_hosted: the VM instance row."
    )
    mongodb_count: int = Field(
        1, ge=1, description="Per region. managed: units as the row is priced (clusters, nodes); self_hosted: VMs."
    )
    mongodb_disk_gb: Decimal = Field(
        Decimal(0), ge=0, description="self_hosted only: block storage GB per MongoDB VM (managed storage: extras)."
    )
    redis_row: str | None = Field(None, description="Managed Redis row id, or None for no managed Redis.")
    redis_nodes: int = Field(0, ge=0, description="Managed Redis nodes (or cache instances) per region.")
    redis_capacity_gb: Decimal | None = Field(
        None, gt=0, description="GB per node; only for rows priced per GB-hour (GCP Memorystore)."
    )
    queue_row: str | None = Field(
        None, description="Managed queue/Kafka row id, or None (a Bull queue on Redis costs nothing extra)."
    )
    queue_count: int = Field(0, ge=0, description="Brokers / throughput units per region.")
    object_storage_gb: Decimal = Field(Decimal(0), ge=0, description="Object storage GB-month (uploads, backups).")
    disk_gb: Decimal = Field(
        Decimal(0), ge=0, description="Other block storage GB-month in total (node root volumes, search index ...)."
    )
    egress_gb: Decimal = Field(Decimal(0), ge=0, description="Internet egress GB/month from the origin.")
    cdn_gb: Decimal = Field(Decimal(0), ge=0, description="CDN data transfer out GB/month.")
    llm_model: str | None = Field(None, description="Model id in pricing/llm.yaml, or None to leave tokens out.")
    llm_input_tokens: int = Field(0, ge=0, description="LLM input (prompt) tokens per month, all users.")
    llm_output_tokens: int = Field(0, ge=0, description="LLM output (completion) tokens per month, all users.")
    extras: tuple[Extra, ...] = Field((), description="Further lines priced straight from the book (see Extra).")

    @model_validator(mode="after")
    def _consistent(self) -> Footprint:
        if (self.redis_row is None) != (self.redis_nodes == 0):
            raise ValueError("redis_row and redis_nodes go together (both set or None/0)")
        if (self.queue_row is None) != (self.queue_count == 0):
            raise ValueError("queue_row and queue_count go together (both set or None/0)")
        if self.llm_model is None and (self.llm_input_tokens or self.llm_output_tokens):
            raise ValueError("llm_input_tokens/llm_output_tokens need an llm_model")
        if self.mongodb_mode == "managed" and self.mongodb_disk_gb:
            raise ValueError("mongodb_disk_gb is for self_hosted MongoDB; bill managed storage through extras")
        if self.load_balancers == 0 and (self.lb_processed_gb or self.lb_capacity_units):
            raise ValueError("lb_processed_gb/lb_capacity_units given but load_balancers is 0")
        if self.nat_gateways == 0 and self.nat_processed_gb:
            raise ValueError("nat_processed_gb given but nat_gateways is 0")
        return self


class LineItem(BaseModel):
    """One priced line: quantity x unit_price_usd = monthly_usd, with the row's provenance."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    component: str
    price_row_id: str
    description: str
    quantity: Decimal
    unit: str
    unit_price_usd: Decimal = Field(description="After any purchase or negotiated discount.")
    monthly_usd: Decimal
    confidence: Confidence = Field(description="Weakest of the price row and any discount row applied.")
    observed: str
    variable: bool = Field(description="Scales with traffic (GB, tokens, LCUs) rather than being provisioned.")
    scope: Literal["infrastructure", "llm"] = "infrastructure"
    discount_fraction: Decimal = Field(Decimal(0), description="Purchase-option discount applied (0 on demand).")
    resource: str = Field("", description="The rendered resource the line pays for (file#locator), or"
                          " 'managed, outside the manifests: ...'; empty for a bare Footprint's lines.")


def _sum(values: Iterable[Decimal]) -> Decimal:
    with localcontext(_CONTEXT):
        return sum(values, Decimal(0))


class Bill(BaseModel):
    """A priced footprint. Every total is the exact sum of its lines."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    tier: str
    provider: str
    region: str
    regions: int
    purchase: Purchase
    lines: tuple[LineItem, ...]
    warnings: tuple[str, ...] = Field(description="What a reader must know, one line each; all doubtful prices"
                                      " share one summary line (their rows are in price_warnings).")
    price_warnings: tuple[PriceWarning, ...] = Field(
        (), description="Per price row used: why it is doubtful (estimate, unknown date, stale, future date).")

    @computed_field  # type: ignore[prop-decorator]
    @property
    def total_usd(self) -> Decimal:
        return _sum(line.monthly_usd for line in self.lines)

    @computed_field  # type: ignore[prop-decorator]
    @property
    def fixed_usd(self) -> Decimal:
        return _sum(line.monthly_usd for line in self.lines if not line.variable)

    @computed_field  # type: ignore[prop-decorator]
    @property
    def variable_usd(self) -> Decimal:
        return _sum(line.monthly_usd for line in self.lines if line.variable)

    @computed_field  # type: ignore[prop-decorator]
    @property
    def infrastructure_usd(self) -> Decimal:
        return _sum(line.monthly_usd for line in self.lines if line.scope == "infrastructure")

    @computed_field  # type: ignore[prop-decorator]
    @property
    def llm_usd(self) -> Decimal:
        return _sum(line.monthly_usd for line in self.lines if line.scope == "llm")

    def component_usd(self) -> dict[str, Decimal]:
        """Monthly USD per component, in order of first appearance."""
        totals: dict[str, Decimal] = {}
        for line in self.lines:
            totals[line.component] = _sum([totals.get(line.component, Decimal(0)), line.monthly_usd])
        return totals


def cents(amount: Decimal) -> Decimal:
    """Round to cents for display only (half up); never round before summing."""
    return amount.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


def choose_instance(
    book: PriceBook,
    vcpu_needed: Decimal | int | float,
    memory_gib_needed: Decimal | int | float,
    category: str = "instance",
    *,
    allow_burstable: bool = False,
) -> PriceRow:
    """The cheapest row of ``category`` with at least the vCPU and memory asked for (ties by id).

    Burstable types (CPU credits) are skipped unless ``allow_burstable``: their price holds only
    below their baseline CPU share, which a sized-for-load node exceeds.
    """
    vcpu, memory = Decimal(str(vcpu_needed)), Decimal(str(memory_gib_needed))
    if not (vcpu.is_finite() and memory.is_finite()) or vcpu < 0 or memory < 0:
        raise CapplanError(f"vcpu_needed={vcpu_needed} and memory_gib_needed={memory_gib_needed} must be >= 0")
    for row in book.instances(category):  # cheapest first, ties by id
        fits = row.vcpu >= vcpu and row.memory_gib >= memory  # type: ignore[operator]
        if fits and (allow_burstable or not row.burstable):
            return row
    raise CapplanError(
        f"no {category} type in the {book.provider} price book has {vcpu} vCPU and {memory} GiB"
        + ("" if allow_burstable else " (burstable types excluded)")
        + f"; add a larger type to pricing/{book.provider}.yaml or use more nodes"
    )


def lb_capacity_units(
    provider: str,
    *,
    active_connections: Decimal | int | float,
    new_connections_per_s: Decimal | int | float,
    processed_gb_per_hour: Decimal | int | float,
) -> Decimal:
    """Average load-balancer capacity units per hour, for ``Footprint.lb_capacity_units``.

    AWS ALB: an LCU is the largest of new connections / 25 per s, active connections / 3,000,
    processed GB / 1 per hour (EC2 targets); rule evaluations are ignored. Azure Application Gateway
    v2: a capacity unit is the larger of persistent connections / 2,500 and throughput / 2.22 Mbps;
    the compute-unit dimension (TLS handshakes) is ignored. GCP bills processed GiB instead: 0.
    Per AWS and Azure pricing pages as best known (unconfirmed). SSE streams are long-lived, so
    active connections usually dominate. Averages understate peaky hours.
    """
    active, new, gb = (Decimal(str(x)) for x in (active_connections, new_connections_per_s, processed_gb_per_hour))
    with localcontext(_CONTEXT):
        if provider == "aws":
            return max(new / 25, active / 3000, gb)
        if provider == "azure":
            mbps = gb * 8000 / 3600
            return max(active / 2500, mbps / Decimal("2.22"))
        if provider == "gcp":
            return Decimal(0)
    raise CapplanError(f"unknown provider {provider!r} for load-balancer capacity units", field="provider")


class _Biller:
    """Accumulates the lines of one bill and the price rows they used."""

    def __init__(self, footprint: Footprint | None, book: PriceBook, purchase: str):
        self.fp, self.book = footprint, book
        self.lines: list[LineItem] = []
        self.rows_used: list[PriceRow | LlmPriceRow] = []
        self.notes: list[str] = []
        self.negotiated = next((r for r in book.rows if r.id == NEGOTIATED_DISCOUNT_ROW), None)
        if self.negotiated is not None and self.negotiated.unit != "fraction":
            raise CapplanError(f"row {NEGOTIATED_DISCOUNT_ROW!r} must have unit 'fraction'")
        self.commit = book.get(f"discount.{purchase}") if purchase.startswith("commit") else None
        self.spot = book.get("discount.spot") if purchase == "spot" else None

    def running(
        self,
        component: str,
        row: PriceRow,
        count: int,
        noun: str,
        field: str,
        *,
        variable: bool,
        discount: PriceRow | None = None,
        capacity_gb: Decimal | None = None,
    ) -> None:
        """``count`` resources per region running all month; GB-hour rows also need ``capacity_gb`` each."""
        regions = self.fp.regions
        what = f"{count} {noun if count > 1 else noun.removesuffix('s')}"
        what += f" x {regions} regions" if regions > 1 else ""
        total = Decimal(count * regions)
        if row.unit == "GB-hour":
            if capacity_gb is None:
                raise CapplanError(f"row {row.id!r} is priced per GB-hour: give the GB per node", field=field)
            total, what = total * capacity_gb, f"{what} x {capacity_gb} GB"
            quantity = total * HOURS_PER_MONTH
        else:
            quantity = self.hours(row, total, field)
        what += f" x {HOURS_PER_MONTH} h" if row.unit != "month" else " x 1 month"
        self.add(component, row, quantity, what, variable=variable, discount=discount)

    @staticmethod
    def hours(row: PriceRow, count: Decimal, field: str) -> Decimal:
        if row.unit in _PER_HOUR:
            return count * HOURS_PER_MONTH
        if row.unit == "month" and row.size_gb is None:
            return count
        raise CapplanError(f"row {row.id!r} is priced per {row.unit}; {field} needs a per-hour or per-month row")

    def storage(self, component: str, row: PriceRow, gb: Decimal, volumes: int, field: str, variable: bool) -> None:
        """``volumes`` volumes of ``gb`` each; fixed-size disks (unit month) are rounded up per volume."""
        if row.unit == "GB-month":
            quantity = gb * volumes
        elif row.unit == "month" and row.size_gb is not None:
            quantity = (gb / row.size_gb).to_integral_value(rounding=ROUND_CEILING) * volumes
        else:
            raise CapplanError(f"row {row.id!r} is priced per {row.unit}; {field} needs a GB-month or disk row")
        what = f"{gb} GB" + (f" on each of {volumes} volumes" if volumes > 1 else "")
        self.add(component, row, quantity, what, variable=variable)

    def transfer(self, component: str, row: PriceRow, gb: Decimal, field: str) -> None:
        if row.unit not in ("GB", "GiB"):
            raise CapplanError(f"row {row.id!r} is priced per {row.unit}; {field} needs a per-GB row")
        self.add(component, row, gb * _GIB_PER_GB if row.unit == "GiB" else gb, f"{gb} GB", variable=True)

    def add(
        self,
        component: str,
        row: PriceRow,
        quantity: Decimal,
        what: str,
        *,
        variable: bool,
        discount: PriceRow | None = None,
        resource: str = "",
        keep_zero: bool = False,
    ) -> None:
        if quantity == 0 and not keep_zero:
            return
        unit_price, rows, notes = row.price, [row], []
        for applied in (discount, self.negotiated):
            if applied is not None:
                unit_price *= 1 - applied.fraction  # type: ignore[operator]
                rows.append(applied)
                percent = (applied.fraction * 100).normalize()  # type: ignore[operator]
                notes.append(f"{applied.description}, {percent:f}% off")
        self.rows_used.extend(rows)
        if row.max_quantity is not None and quantity > row.max_quantity:
            self.notes.append(
                f"{component}: {quantity} {row.unit} exceeds the {row.max_quantity} {row.unit} of the first price "
                f"tier of {row.id!r}; cheaper tiers beyond it are not modelled (the line overestimates)"
            )
        self.lines.append(
            LineItem(
                component=component,
                price_row_id=row.id,
                description=f"{row.description}: {what}" + (f" ({'; '.join(notes)})" if notes else ""),
                quantity=quantity,
                unit=row.unit,
                unit_price_usd=unit_price,
                monthly_usd=quantity * unit_price,
                confidence=min((r.confidence for r in rows), key=_RANK.__getitem__),
                observed=row.observed,
                variable=variable,
                discount_fraction=discount.fraction if discount is not None else Decimal(0),  # type: ignore[arg-type]
                resource=resource,
            )
        )

    def tokens(self, model: LlmPriceRow, kind: str, tokens: int, price: Decimal, resource: str = "") -> None:
        if not tokens:
            return
        quantity = Decimal(tokens) / _MILLION
        self.rows_used.append(model)
        self.lines.append(
            LineItem(
                component="llm",
                price_row_id=model.id,
                description=f"{model.description}: {kind} tokens",
                quantity=quantity,
                unit=f"1M {kind} tokens",
                unit_price_usd=price,
                monthly_usd=quantity * price,
                confidence=model.confidence,
                observed=model.observed,
                variable=True,
                scope="llm",
                resource=resource,
            )
        )

    def instance(self, row_id: str, field: str) -> PriceRow:
        row = self.book.get(row_id)
        if row.category != "instance":
            raise CapplanError(f"row {row_id!r} is not a compute instance (category {row.category})", field=field)
        return row


def build_bill(
    footprint: Footprint,
    book: PriceBook,
    llm_book: LlmPriceBook | None = None,
    purchase: str = "on_demand",
    *,
    today: dt.date | None = None,
) -> Bill:
    """Price ``footprint`` with ``book`` (and ``llm_book`` for tokens) under a purchase option.

    Purchase options: ``on_demand``; ``commit_1y`` / ``commit_3y`` take the book's
    ``discount.commit_*`` fraction off every compute-instance line (app nodes, self-hosted MongoDB
    VMs, instance extras); managed services stay on demand. ``spot`` takes ``discount.spot`` off the
    stateless app nodes only. An optional ``discount.negotiated`` row in the book comes off every
    infrastructure line. ``today`` is the reference date for stale-price warnings; without it
    freshness is not checked and the bill says so. Lines with quantity 0 are left out.
    """
    _check_options(footprint.provider, book, purchase)
    fp, b = footprint, _Biller(footprint, book, purchase)
    with localcontext(_CONTEXT):
        if fp.kubernetes_clusters:
            row = book.role("kubernetes_control_plane")
            b.running("kubernetes", row, fp.kubernetes_clusters, "clusters", "kubernetes_clusters", variable=False)
        app = b.instance(fp.app_instance, "app_instance")
        b.running("app_nodes", app, fp.app_nodes, "nodes", "app_instance", variable=False, discount=b.commit or b.spot)
        if fp.load_balancers:
            row = book.role("lb_hour")
            b.running("load_balancer", row, fp.load_balancers, "load balancers", "load_balancers", variable=False)
            row = book.role("lb_usage")
            if row.unit in CAPACITY_UNIT_HOUR_UNITS:
                quantity = b.hours(row, fp.lb_capacity_units, "lb_capacity_units")
                b.add("load_balancer", row, quantity, f"{fp.lb_capacity_units} units x 730 h", variable=True)
            else:
                b.transfer("load_balancer", row, fp.lb_processed_gb, "lb_processed_gb")
        if fp.nat_gateways:
            b.running("nat", book.role("nat_hour"), fp.nat_gateways, "gateways", "nat_gateways", variable=False)
            b.transfer("nat", book.role("nat_gb"), fp.nat_processed_gb, "nat_processed_gb")
        if fp.mongodb_mode == "managed":
            row = book.get(fp.mongodb_row)
            b.running("mongodb", row, fp.mongodb_count, "units", "mongodb_row", variable=False)
        else:
            row = b.instance(fp.mongodb_row, "mongodb_row")
            b.running("mongodb", row, fp.mongodb_count, "VMs", "mongodb_row", variable=False, discount=b.commit)
            volumes = fp.mongodb_count * fp.regions
            b.storage("mongodb", book.role("block_storage"), fp.mongodb_disk_gb, volumes, "mongodb_disk_gb", False)
        if fp.redis_row is not None:
            row = book.get(fp.redis_row)
            field = "redis_capacity_gb" if row.unit == "GB-hour" else "redis_row"
            b.running("redis", row, fp.redis_nodes, "nodes", field, variable=False, capacity_gb=fp.redis_capacity_gb)
        if fp.queue_row is not None:
            b.running("queue", book.get(fp.queue_row), fp.queue_count, "units", "queue_row", variable=False)
        if fp.object_storage_gb:
            b.storage("object_storage", book.role("object_storage"), fp.object_storage_gb, 1, "object_storage_gb", True)
        if fp.disk_gb:
            b.storage("block_storage", book.role("block_storage"), fp.disk_gb, 1, "disk_gb", False)
        if fp.egress_gb:
            b.transfer("egress", book.role("egress"), fp.egress_gb, "egress_gb")
        if fp.cdn_gb:
            b.transfer("cdn", book.role("cdn"), fp.cdn_gb, "cdn_gb")
        for index, extra in enumerate(fp.extras):
            row = book.get(extra.row_id)
            if row.unit == "fraction":
                raise CapplanError(f"row {row.id!r} is a discount, not a price", field=f"extras[{index}]")
            per_hour = row.unit in _PER_HOUR or row.unit == "GB-hour"
            quantity = extra.quantity * HOURS_PER_MONTH if per_hour else extra.quantity
            what = f"{extra.quantity}" + (f" x {HOURS_PER_MONTH} h" if per_hour else f" {row.unit}")
            discount = b.commit if row.category == "instance" else None
            b.add(extra.component, row, quantity, what, variable=extra.variable, discount=discount)
        if fp.llm_model is not None:
            if llm_book is None:
                raise CapplanError(f"{fp.llm_model!r} needs the LLM price book (load_llm_prices())", field="llm_model")
            model = llm_book.get(fp.llm_model)
            b.tokens(model, "input", fp.llm_input_tokens, model.input_usd_per_mtok)
            b.tokens(model, "output", fp.llm_output_tokens, model.output_usd_per_mtok)

    warnings, details = _price_warnings(b.rows_used, today, book.provider)
    if purchase == "spot":
        warnings.append("spot: app nodes can be reclaimed at short notice; keep enough on-demand capacity for the SLO")
    return Bill(
        tier=fp.tier,
        provider=book.provider,
        region=book.region,
        regions=fp.regions,
        purchase=purchase,  # type: ignore[arg-type]
        lines=tuple(b.lines),
        warnings=tuple(warnings + b.notes),
        price_warnings=details,
    )


def _price_warnings(rows: list[PriceRow | LlmPriceRow], today: dt.date | None, provider: str
                    ) -> tuple[list[str], tuple[PriceWarning, ...]]:
    """(warning lines: at most one about prices, per-row details)."""
    if today is None:
        return ["price freshness not checked: no reference date given"], ()
    summary = price_warning_summary(rows, today, provider)
    return ([] if summary is None else [summary]), tuple(price_row_warnings(rows, today))


def _check_options(provider: str, book: PriceBook, purchase: str) -> None:
    if provider.strip().lower() != book.provider:
        raise CapplanError(f"the plan is for provider {provider!r} but the price book is {book.provider!r}",
                           field="provider")
    if purchase not in PURCHASE_OPTIONS:
        raise CapplanError(
            f"unknown purchase option {purchase!r}; choose one of {', '.join(PURCHASE_OPTIONS)}", field="purchase"
        )


def bill_deployment(
    deployment: Any,
    book: PriceBook,
    llm_book: LlmPriceBook | None = None,
    purchase: str = "on_demand",
    *,
    today: dt.date | None = None,
) -> Bill:
    """Price a :class:`capplan.deploy.Deployment`: one line per charge, each naming its resource.

    Quantities come from the deployment (already multiplied by its regions); hourly rows run 730 h,
    GiB rows convert from GB, fixed-size disk rows count disks. Purchase options as :func:`build_bill`:
    commitments discount compute instances, spot discounts the charges marked ``spot_eligible``
    (stateless app nodes). Lines with quantity 0 are kept only for free allowances (price 0 rows).
    """
    from capplan.deploy.model import MANAGED

    _check_options(deployment.provider, book, purchase)
    b = _Biller(None, book, purchase)
    with localcontext(_CONTEXT):
        for charge in deployment.charges:
            row = book.get(charge.row_id)
            if row.unit == "fraction":
                raise CapplanError(f"row {row.id!r} is a discount, not a price", field=charge.component)
            if row.unit in _PER_HOUR or row.unit == "GB-hour":
                quantity, what = charge.quantity * HOURS_PER_MONTH, f"{charge.what} x {HOURS_PER_MONTH} h"
            elif row.unit == "GiB":
                quantity, what = charge.quantity * _GIB_PER_GB, charge.what
            else:
                quantity, what = charge.quantity, charge.what
            discount = None
            if row.category == "instance":
                discount = b.commit or (b.spot if charge.spot_eligible else None)
            b.add(charge.component, row, quantity, what, variable=charge.variable, discount=discount,
                  resource=charge.resource, keep_zero=row.price == 0 and charge.quantity > 0)
        if deployment.llm_model is not None and llm_book is not None:
            model = llm_book.get(deployment.llm_model)
            where = f"{MANAGED}: the LLM provider's API"
            b.tokens(model, "input", deployment.llm_input_tokens, model.input_usd_per_mtok, where)
            b.tokens(model, "output", deployment.llm_output_tokens, model.output_usd_per_mtok, where)
    warnings, details = _price_warnings(b.rows_used, today, book.provider)
    if purchase == "spot":
        warnings.append("spot: app nodes can be reclaimed at short notice; keep enough on-demand capacity for the SLO")
    return Bill(tier=deployment.tier, provider=book.provider, region=book.region, regions=deployment.regions,
                purchase=purchase, lines=tuple(b.lines), warnings=tuple(warnings + b.notes + list(deployment.notes)),
                price_warnings=details)
