"""Refresh a provider's price book from its public price source (``capplan prices refresh``).

One source per provider:

* Azure: the Retail Prices API (``https://prices.azure.com/api/retail/prices?$filter=...``): pages of
  ``Items`` followed through ``NextPageLink``; no key.
* AWS: the Price List bulk offer files (``/offers/v1.0/aws/<service>/current/<region>/index.json``):
  ``products`` keyed by SKU, prices in ``terms.OnDemand[sku][term].priceDimensions``; no key. The
  EC2 file of one region is very large: a network refresh downloads and parses all of it.
* GCP: the Cloud Billing Catalog API (``https://cloudbilling.googleapis.com/v1/services/<id>/skus``):
  ``skus[]`` priced by ``pricingInfo[].pricingExpression.tieredRates``; needs an API key.

Parsing is pure and separate from fetching. :func:`fetch` (network, ``urllib`` only) returns a
*response bundle* (the raw bodies and the URLs they came from, AWS and GCP cut down to the products
capplan maps); :func:`load_responses` reads a bundle, a raw response body or a list of bodies back
from files; :func:`refresh` turns bodies into a new :class:`PriceBook`.

Only the rows named in :data:`MAPPINGS` are refreshed. Each gets the API's price (the first tier that
costs something), a ``source`` naming the API and the meter/SKU, ``observed`` = the date passed in and
``confidence: confirmed``. A mapped row the responses have no single price for (nothing matched, or
several different prices matched) and every unmapped row are copied unchanged, so a bill keeps
warning about them. Money is ``Decimal``; nothing here reads the clock.
"""

from __future__ import annotations

import datetime as dt
import http.client
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, Union
from urllib import error as urlerror
from urllib import parse as urlparse
from urllib import request as urlrequest

import yaml

from capplan.cost.prices import PriceBook, PriceRow
from capplan.errors import CapplanError

PROVIDERS: tuple[str, ...] = ("aws", "azure", "gcp")
API_NAMES = {
    "azure": "Azure Retail Prices API",
    "aws": "AWS Price List bulk offer file",
    "gcp": "GCP Cloud Billing Catalog API",
}
_LABELS = {"azure": "Azure", "aws": "AWS", "gcp": "GCP"}
RESPONSES_FORMAT = "capplan-price-responses/1"
"""Marks a response bundle (``--save-responses`` writes one, ``--from-file`` reads it)."""

AZURE_API = "https://prices.azure.com/api/retail/prices"
AWS_OFFERS = "https://pricing.us-east-1.amazonaws.com/offers/v1.0/aws"
GCP_CATALOG = "https://cloudbilling.googleapis.com/v1/services"
GCP_SERVICES = {"6F81-5844-456A": "Compute Engine", "E505-1604-58F8": "Networking"}
"""Cloud Billing services searched for SKUs (Networking holds the egress, NAT and load-balancing SKUs)."""
MAX_PAGES = 50
"""Most pages followed for one query (Azure ``NextPageLink``, GCP ``nextPageToken``)."""


# --- what each mapped row is priced from -----------------------------------------------------------


@dataclass(frozen=True)
class AzureMeter:
    """Retail Prices items with these exact field values (also the API ``$filter``), pay-as-you-go
    (``type`` Consumption, not Spot or Low Priority), in one of ``units``. ``product_pattern`` is a
    full-match regex on ``productName`` checked locally (Linux VMs: 'Virtual Machines Dsv5 Series',
    not '... Series Windows'). NAT Gateway and Load Balancer meters are listed under the region
    'Global', not the book's region."""

    fields: tuple[tuple[str, str], ...]
    units: tuple[str, ...]
    product_pattern: str | None = None
    global_meter: bool = False

    def region(self, book_region: str) -> str:
        return "Global" if self.global_meter else book_region

    def query(self, book_region: str) -> str:
        """The OData ``$filter`` (values are case-sensitive)."""
        parts = [*self.fields, ("armRegionName", self.region(book_region)), ("priceType", "Consumption")]
        return " and ".join(f"{name} eq '{value.replace(chr(39), chr(39) * 2)}'" for name, value in parts)

    def matches(self, item: Mapping[str, Any], book_region: str) -> bool:
        return (
            item.get("armRegionName") == self.region(book_region)
            and item.get("type") == "Consumption"
            and item.get("currencyCode", "USD") == "USD"
            and item.get("isPrimaryMeterRegion") is not False
            and item.get("unitOfMeasure") in self.units
            and not re.search(r"(Spot|Low Priority)$", str(item.get("meterName", "")))
            and all(item.get(name) == value for name, value in self.fields)
            and (self.product_pattern is None or re.fullmatch(self.product_pattern, str(item.get("productName", ""))))
        )

    def describe(self) -> str:
        text = ", ".join(f"{name} {value!r}" for name, value in self.fields)
        if self.product_pattern:
            text += f", productName ~ {self.product_pattern!r}"
        return text + f", unit {' | '.join(self.units)}" + (", region Global" if self.global_meter else "")


@dataclass(frozen=True)
class AwsProduct:
    """Products of the ``service`` offer file with this ``productFamily``, ``usagetype`` (after an
    optional region prefix such as ``USE2-``) and attributes, priced per ``unit`` on demand."""

    service: str
    family: str
    usagetype: str
    unit: str
    attributes: tuple[tuple[str, str], ...] = ()

    def matches(self, product: Mapping[str, Any], region: str) -> bool:
        attrs = _dict(product.get("attributes"))
        return (
            product.get("productFamily") == self.family
            and attrs.get("regionCode", region) == region
            and re.fullmatch(r"(?:[A-Z0-9]+-)?" + re.escape(self.usagetype), str(attrs.get("usagetype", ""))) is not None
            and all(attrs.get(name) == value for name, value in self.attributes)
        )

    def describe(self) -> str:
        attrs = "".join(f", {name} {value!r}" for name, value in self.attributes)
        return f"{self.service} {self.family!r}, usagetype {self.usagetype!r}{attrs}, unit {self.unit}"


@dataclass(frozen=True)
class GcpSku:
    """Catalog SKUs whose ``description`` full-matches the regex, ``usageType`` OnDemand, offered in the
    book's region (``serviceRegions``), priced per ``usage_unit``."""

    description: str
    usage_unit: str

    def matches(self, sku: Mapping[str, Any], region: str) -> bool:
        expression = _gcp_expression(sku)
        regions = sku.get("serviceRegions") or []
        return (
            re.fullmatch(self.description, str(sku.get("description", ""))) is not None
            and _dict(sku.get("category")).get("usageType") == "OnDemand"
            and (region in regions or "global" in regions)
            and expression.get("usageUnit") == self.usage_unit
        )

    def describe(self) -> str:
        return f"description ~ {self.description!r}, OnDemand, usageUnit {self.usage_unit}"


Matcher = Union[AzureMeter, AwsProduct, GcpSku]


@dataclass(frozen=True)
class RowMapping:
    """A price-book row priced as the sum of ``quantity x matched price`` over ``parts`` (one part for
    most rows; a GCP machine type is cores x the core SKU + GiB x the RAM SKU). ``unit`` replaces the
    row's unit when the API bills in another one the price book knows (GCP bills data in GiB)."""

    row_id: str
    parts: tuple[tuple[Decimal, Matcher], ...]
    unit: str | None = None


def _one(row_id: str, matcher: Matcher, unit: str | None = None) -> RowMapping:
    return RowMapping(row_id, ((Decimal(1), matcher),), unit)


def _azure(row_id: str, service: str, units: tuple[str, ...], global_meter: bool = False, **fields: str) -> RowMapping:
    names = {"product": "productName", "sku": "skuName", "meter": "meterName"}
    exact = (("serviceName", service), *((names[k], v) for k, v in fields.items()))
    return _one(row_id, AzureMeter(exact, units, global_meter=global_meter))


def _azure_vm(row_id: str, size: str) -> RowMapping:
    """A Linux pay-as-you-go VM (the Windows price is the product '... Series Windows')."""
    meter = AzureMeter(
        (("serviceName", "Virtual Machines"), ("armSkuName", f"Standard_{size}")),
        ("1 Hour",),
        product_pattern=r"Virtual Machines .+ Series",
    )
    return _one(row_id, meter)


def _aws_ec2(row_id: str, instance_type: str) -> RowMapping:
    attributes = (
        ("instanceType", instance_type), ("operatingSystem", "Linux"), ("tenancy", "Shared"),
        ("preInstalledSw", "NA"), ("capacitystatus", "Used"),
    )
    return _one(row_id, AwsProduct("AmazonEC2", "Compute Instance", f"BoxUsage:{instance_type}", "Hrs", attributes))


def _gcp_machine(row_id: str, family: str, cores: int | Decimal, gib: int | Decimal) -> RowMapping:
    core = GcpSku(rf"{family} Instance Core running in .+", "h")
    ram = GcpSku(rf"{family} Instance Ram running in .+", "GiBy.h")
    return RowMapping(row_id, ((Decimal(cores), core), (Decimal(gib), ram)))


_HOUR = ("1 Hour",)
_GATEWAY_HOUR = ("1 Hour", "1/Hour")  # Application Gateway meters have been listed with either spelling

MAPPINGS: dict[str, tuple[RowMapping, ...]] = {
    "azure": (
        _azure("aks.control_plane", "Azure Kubernetes Service", _HOUR, product="Azure Kubernetes Service",
               sku="Standard", meter="Standard Uptime SLA"),
        _azure("appgw.v2.hour", "Application Gateway", _GATEWAY_HOUR, product="Application Gateway Standard v2",
               meter="Standard Fixed Cost"),
        _azure("appgw.v2.cu", "Application Gateway", _GATEWAY_HOUR, product="Application Gateway Standard v2",
               meter="Standard Capacity Units"),
        _azure("appgw.waf_v2.hour", "Application Gateway", _GATEWAY_HOUR, product="Application Gateway WAF v2",
               meter="Standard Fixed Cost"),
        _azure("appgw.waf_v2.cu", "Application Gateway", _GATEWAY_HOUR, product="Application Gateway WAF v2",
               meter="Standard Capacity Units"),
        _azure("lb.standard.rule_hour", "Load Balancer", _HOUR, True, sku="Standard",
               meter="Standard Included LB Rules and Outbound Rules"),
        _azure("lb.standard.gb", "Load Balancer", ("1 GB",), True, sku="Standard", meter="Standard Data Processed"),
        _azure("nat.hour", "NAT Gateway", _HOUR, True, sku="Standard", meter="Standard Gateway"),
        _azure("nat.gb", "NAT Gateway", ("1 GB",), True, sku="Standard", meter="Standard Data Processed"),
        *(_azure(f"disk.premium_ssd.{tier.lower()}", "Storage", ("1/Month",), product="Premium SSD Managed Disks",
                 sku=f"{tier} LRS", meter=f"{tier} LRS Disk") for tier in ("P6", "P10")),
        *(_azure(f"disk.standard_ssd.{tier.lower()}", "Storage", ("1/Month",), product="Standard SSD Managed Disks",
                 sku=f"{tier} LRS", meter=f"{tier} LRS Disk") for tier in ("E4", "E10")),
        _azure("blob.hot_lrs", "Storage", ("1 GB/Month",), product="General Block Blob v2", sku="Hot LRS",
               meter="Hot LRS Data Stored"),
        _azure("egress.internet", "Bandwidth", ("1 GB",), product="Rtn Preference: MGN", sku="Standard",
               meter="Standard Data Transfer Out"),
    ),
    "aws": (
        _one("nat.hour", AwsProduct("AmazonEC2", "NAT Gateway", "NatGateway-Hours", "Hrs")),
        _one("nat.gb", AwsProduct("AmazonEC2", "NAT Gateway", "NatGateway-Bytes", "GB")),
        _one("ebs.gp3", AwsProduct("AmazonEC2", "Storage", "EBS:VolumeUsage.gp3", "GB-Mo", (("volumeApiName", "gp3"),))),
        _one("alb.hour", AwsProduct("AWSELB", "Load Balancer-Application", "LoadBalancerUsage", "Hrs")),
        _one("alb.lcu", AwsProduct("AWSELB", "Load Balancer-Application", "LCUUsage", "LCU-Hrs")),
        _one("s3.standard", AwsProduct("AmazonS3", "Storage", "TimedStorage-ByteHrs", "GB-Mo", (("volumeType", "Standard"),))),
        _one("egress.internet", AwsProduct("AWSDataTransfer", "Data Transfer", "DataTransfer-Out-Bytes", "GB",
                                           (("transferType", "AWS Outbound"), ("toLocation", "External")))),
    ),
    "gcp": (
        _gcp_machine("gce.e2-medium", "E2", 1, 4),  # shared core: billed as 1 vCPU although it bursts to 2
        _one("pd.balanced", GcpSku(r"Balanced PD Capacity( in .+)?", "GiBy.mo")),
        _one("egress.internet", GcpSku(r"Network Internet (Egress|Data Transfer Out) from Americas to Americas", "GiBy"),
             unit="GiB"),
        _one("nat.gb", GcpSku(r"NAT Gateway: Data processing charge( in .+)?", "GiBy"), unit="GiB"),
        _one("lb.data_processed", GcpSku(r"Network Load Balancing: Data Processing Charge( in .+)?", "GiBy")),
        _one("lb.forwarding_rule", GcpSku(r"Network Load Balancing: Forwarding Rule Minimum Service Charge( in .+)?", "h")),
    ),
}
"""Per provider: rows priced from one named meter/SKU. Instance rows follow a rule instead (see
:func:`mapping_for`). Rows matched by neither (discounts, managed databases, caches, estimates with no
public meter) are copied unchanged."""

_GCP_MACHINE = re.compile(r"gce\.(e2|n2)-(standard|highmem|highcpu)-\d+")


def mapping_for(provider: str, row: PriceRow) -> RowMapping | None:
    """How ``row`` of ``provider``'s book is refreshed, or None. Sized instance rows are mapped by
    their id: Azure ``vm.<size>`` -> Linux ``Standard_<size>``, AWS ``ec2.<type>`` -> Linux shared-tenancy
    ``<type>``, GCP ``gce.<family>-<shape>-<n>`` -> vcpu x the family's core SKU + memory_gib x its RAM SKU."""
    if row.unit == "fraction":
        return None
    for mapping in MAPPINGS[provider]:
        if mapping.row_id == row.id:
            return mapping
    if row.category != "instance":
        return None
    if provider == "azure" and row.id.startswith("vm."):
        return _azure_vm(row.id, row.id[3:])
    if provider == "aws" and row.id.startswith("ec2."):
        return _aws_ec2(row.id, row.id[4:])
    match = _GCP_MACHINE.fullmatch(row.id)
    if provider == "gcp" and match and row.vcpu is not None and row.memory_gib is not None:
        return _gcp_machine(row.id, match[1].upper(), row.vcpu, row.memory_gib)
    return None


def _matchers(book: PriceBook) -> list[Matcher]:
    """Every meter/SKU matcher a refresh of ``book`` uses, once each, in row order."""
    found = (matcher for row in book.rows if (m := mapping_for(book.provider, row)) for _, matcher in m.parts)
    return list(dict.fromkeys(found))


# --- refresh (pure) ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Refresh:
    """A refreshed price book and what happened to each row."""

    book: PriceBook
    api: str
    today: dt.date
    refreshed: tuple[tuple[str, Decimal | None, Decimal], ...]
    """(row id, old usd, new usd) for every row priced from the responses."""
    kept: tuple[tuple[str, str], ...]
    """(row id, why) for mapped rows left unchanged: nothing matched, or an ambiguous match."""
    unmapped: tuple[str, ...]
    """Rows this provider's mapping does not price (copied unchanged)."""


def refresh(base: PriceBook, responses: list[dict[str, Any]], today: dt.date) -> Refresh:
    """``base`` with its mapped rows repriced from raw API ``responses`` (see :func:`load_responses`)."""
    provider = _provider(base.provider)
    if not isinstance(today, dt.date):
        raise CapplanError(f"must be a date, got {today!r}", field="today")
    api = API_NAMES[provider]
    offers = _OFFERS[provider]
    new_rows: list[PriceRow] = []
    refreshed: list[tuple[str, Decimal | None, Decimal]] = []
    kept: list[tuple[str, str]] = []
    unmapped: list[str] = []
    for row in base.rows:
        mapping = mapping_for(provider, row)
        if mapping is None:
            unmapped.append(row.id)
            continue
        total, refs = Decimal(0), []
        for quantity, matcher in mapping.parts:
            found = _pick(offers(responses, matcher, base.region, today), matcher.describe())
            if isinstance(found, str):
                kept.append((row.id, found))
                break
            usd, ref = found
            total += quantity * usd
            refs.append(ref if quantity == 1 else f"{_plain(quantity)} x {ref}")
        else:
            doc = _row_doc(row) | {
                "usd": _plain(total), "source": f"{api}: " + " + ".join(refs),
                "observed": today.isoformat(), "confidence": "confirmed",
            }
            if mapping.unit is not None:
                doc["unit"] = mapping.unit
            new_rows.append(PriceRow.model_validate(doc))
            refreshed.append((row.id, row.usd, total))
    if not refreshed:
        raise CapplanError(f"none of the {len(kept)} mapped {provider} rows has a price in these responses "
                           f"(responses for another region, or not the queries a refresh makes?)", field="responses")
    return Refresh(base.with_rows(new_rows), api, today, tuple(refreshed), tuple(kept), tuple(unmapped))


def dump_book(result: Refresh) -> str:
    """The refreshed book as YAML text in the ``pricing/<provider>.yaml`` format. Same inputs, same bytes."""
    book = result.book
    header = (
        f"# {book.provider} price book ({book.region}), written by `capplan prices refresh` on "
        f"{result.today.isoformat()}.\n"
        f"# {len(result.refreshed)} rows were priced from the {result.api} (their source names the meter/SKU;\n"
        f"# observed {result.today.isoformat()}, confidence confirmed); the other {len(book.rows) - len(result.refreshed)} "
        "are copied unchanged\n"
        f"# from the base book. Format: pricing/README.md. Use: capplan cost --provider {book.provider} --prices FILE\n"
    )
    doc = {
        "provider": book.provider,
        "region": book.region,
        "currency": book.currency,
        "roles": dict(book.roles),
        "rows": [_row_doc(row) for row in book.rows],
    }
    return header + yaml.safe_dump(doc, sort_keys=False, allow_unicode=True, width=120)


def write_book(result: Refresh, path: str | Path) -> Path:
    """Write :func:`dump_book` to ``path`` (parent folders are created)."""
    target = Path(path)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(dump_book(result), encoding="utf-8")
    except OSError as exc:
        raise CapplanError(f"cannot write the price book ({exc.strerror})", field=str(target)) from None
    return target


_ROW_KEYS = ("id", "description", "unit", "usd", "fraction", "region", "source", "observed", "confidence",
             "category", "vcpu", "memory_gib", "burstable", "size_gb", "max_quantity")


def _row_doc(row: PriceRow) -> dict[str, Any]:
    """A row as a plain mapping (money as quoted strings, defaults left out) in the README's order."""
    data = row.model_dump(mode="json", exclude_none=True, exclude_defaults=True)
    doc = {key: data[key] for key in _ROW_KEYS if key in data}
    for key in ("vcpu", "memory_gib", "size_gb"):
        if key in doc and Decimal(doc[key]) == Decimal(doc[key]).to_integral_value():
            doc[key] = int(Decimal(doc[key]))
    return doc


def _pick(offers: list[tuple[Decimal, str]], what: str) -> tuple[Decimal, str] | str:
    """The one price among ``(usd, reference)`` offers, or why there is none."""
    if not offers:
        return f"no priced item matches {what}"
    prices = sorted({usd for usd, _ in offers})
    if len(prices) > 1:
        return f"ambiguous: {len(prices)} different prices ({', '.join(_plain(p) for p in prices)}) match {what}"
    return min(offers, key=lambda offer: offer[1])


def _first_paid(tiers: Iterable[tuple[Decimal, Decimal]]) -> tuple[Decimal, Decimal] | None:
    """(tier start, usd) of the first tier that costs something (a free allowance is its own row)."""
    paid = sorted((start, usd) for start, usd in tiers if usd > 0)
    return paid[0] if paid else None


def _tier_note(start: Decimal, unit: str) -> str:
    return f", tier from {_plain(start)} {unit}" if start > 0 else ""


def _azure_offers(bodies: list[dict[str, Any]], meter: AzureMeter, region: str, today: dt.date) -> list[tuple[Decimal, str]]:
    by_meter: dict[str, list[dict[str, Any]]] = {}
    for body in bodies:
        for item in body.get("Items") or []:
            if isinstance(item, dict) and meter.matches(item, region):
                if str(item.get("effectiveStartDate", ""))[:10] <= today.isoformat():
                    by_meter.setdefault(str(item.get("meterId")), []).append(item)
    offers = []
    for meter_id, items in by_meter.items():
        newest = max(str(item.get("effectiveStartDate", "")) for item in items)  # a meter re-priced: the latest
        tiers = {}
        for item in items:
            usd = _decimal(item.get("retailPrice"))
            if usd is not None and str(item.get("effectiveStartDate", "")) == newest:
                tiers[_decimal(item.get("tierMinimumUnits")) or Decimal(0)] = (usd, item)
        first = _first_paid((start, usd) for start, (usd, _) in tiers.items())
        if first is not None:
            item = tiers[first[0]][1]
            ref = (f"meter {meter_id} ({item.get('productName')} / {item.get('meterName')}, per "
                   f"{item.get('unitOfMeasure')}{_tier_note(first[0], 'units')}, effective {newest[:10]})")
            offers.append((first[1], ref))
    return offers


def _aws_offers(bodies: list[dict[str, Any]], product: AwsProduct, region: str, today: dt.date) -> list[tuple[Decimal, str]]:
    offers = []
    for body in bodies:
        if body.get("offerCode") != product.service:
            continue
        on_demand = _dict(_dict(body.get("terms")).get("OnDemand"))
        for sku, item in sorted(_dict(body.get("products")).items()):
            if not isinstance(item, dict) or not product.matches(item, region):
                continue
            tiers = []
            for term in _dict(on_demand.get(sku)).values():
                if not isinstance(term, dict) or str(term.get("effectiveDate", ""))[:10] > today.isoformat():
                    continue
                for dim in _dict(term.get("priceDimensions")).values():
                    usd = _decimal(_dict(_dict(dim).get("pricePerUnit")).get("USD"))
                    if usd is not None and dim.get("unit") == product.unit:
                        tiers.append((_decimal(dim.get("beginRange")) or Decimal(0), usd))
            first = _first_paid(tiers)
            if first is not None:
                ref = (f"{product.service} offer {body.get('version', '?')}, SKU {sku} "
                       f"({_dict(item.get('attributes')).get('usagetype')}, per {product.unit}{_tier_note(first[0], product.unit)})")
                offers.append((first[1], ref))
    return offers


def _gcp_expression(sku: Mapping[str, Any]) -> dict[str, Any]:
    infos = [info for info in sku.get("pricingInfo") or [] if isinstance(info, dict)]
    latest = max(infos, key=lambda info: str(info.get("effectiveTime", "")), default={})
    return _dict(latest.get("pricingExpression"))


def _gcp_offers(bodies: list[dict[str, Any]], matcher: GcpSku, region: str, today: dt.date) -> list[tuple[Decimal, str]]:
    offers, seen = [], set()
    for body in bodies:
        for sku in body.get("skus") or []:
            if not isinstance(sku, dict) or not matcher.matches(sku, region) or sku.get("skuId") in seen:
                continue
            seen.add(sku.get("skuId"))
            tiers = []
            for rate in _gcp_expression(sku).get("tieredRates") or []:
                price = _dict(_dict(rate).get("unitPrice"))
                if price.get("currencyCode", "USD") != "USD":
                    continue
                try:
                    usd = Decimal(int(price.get("units") or 0)) + Decimal(int(price.get("nanos") or 0)).scaleb(-9)
                except (TypeError, ValueError):
                    continue
                tiers.append((_decimal(rate.get("startUsageAmount")) or Decimal(0), usd))
            first = _first_paid(tiers)
            if first is not None:
                ref = (f"SKU {sku.get('skuId')} ({sku.get('description')}, per {matcher.usage_unit}"
                       f"{_tier_note(first[0], matcher.usage_unit)})")
                offers.append((first[1], ref))
    return offers


_OFFERS = {"azure": _azure_offers, "aws": _aws_offers, "gcp": _gcp_offers}


# --- response files ---------------------------------------------------------------------------------

_BODY_KIND = {"azure": "an Azure Retail Prices page ('Items')", "aws": "an AWS offer file ('products' and 'terms')",
              "gcp": "a Cloud Billing Catalog page ('skus')"}


def _kind(body: Any) -> str | None:
    """Whose raw response ``body`` is, or None when it is none (or its entries are not objects)."""
    if not isinstance(body, dict):
        return None
    if isinstance(body.get("Items"), list) and all(isinstance(item, dict) for item in body["Items"]):
        return "azure"
    if isinstance(body.get("products"), dict) and isinstance(body.get("terms"), dict) \
            and all(isinstance(product, dict) for product in body["products"].values()):
        return "aws"
    if isinstance(body.get("skus"), list) and all(isinstance(sku, dict) for sku in body["skus"]):
        return "gcp"
    return None


def load_responses(paths: Iterable[str | Path], provider: str, region: str) -> list[dict[str, Any]]:
    """The raw response bodies in ``paths`` (each a response bundle, one raw body, or a JSON list of
    bodies), checked to be ``provider``'s, for ``region`` when a bundle says so. Errors name the file."""
    name = _provider(provider)
    bodies: list[dict[str, Any]] = []
    for path in map(Path, paths):
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except OSError as exc:
            raise CapplanError(f"cannot read the responses file ({exc.strerror})", field=str(path)) from None
        except (ValueError, UnicodeDecodeError) as exc:
            raise CapplanError(f"not a JSON price API response ({exc})", field=str(path)) from None
        if isinstance(data, dict) and data.get("format") == RESPONSES_FORMAT:
            if data.get("provider") != name:
                raise CapplanError(f"a response bundle for {data.get('provider')!r}, not {name!r}", field=str(path))
            if data.get("region") not in (None, region):
                raise CapplanError(f"responses for region {data.get('region')!r}; the {name} price book is for "
                                   f"{region!r}", field=str(path))
            entries = data.get("responses")
            found = [entry.get("body") if isinstance(entry, dict) else None for entry in entries] \
                if isinstance(entries, list) else []
        else:
            found = data if isinstance(data, list) else [data]
        if not found:
            raise CapplanError("holds no responses", field=str(path))
        for number, body in enumerate(found, 1):
            kind = _kind(body)
            if kind != name:
                what = f"{_BODY_KIND[kind].split(' (')[0]}" if kind else "not a price API response"
                raise CapplanError(f"response {number} is {what}; {name} needs {_BODY_KIND[name]}", field=str(path))
            bodies.append(body)
    if not bodies:
        raise CapplanError("no responses given", field="responses")
    return bodies


def save_responses(bundle: Mapping[str, Any], path: str | Path) -> Path:
    """Write a bundle from :func:`fetch` as JSON, for a later replay with ``--from-file``."""
    target = Path(path)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(json.dumps(bundle, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    except OSError as exc:
        raise CapplanError(f"cannot write the responses ({exc.strerror})", field=str(target)) from None
    return target


# --- fetching (network) -----------------------------------------------------------------------------


def fetch(base: PriceBook, *, api_key: str | None = None, timeout: float = 30) -> dict[str, Any]:
    """Download what a refresh of ``base``'s mapped rows needs; a response bundle.

    Every network failure (no route, DNS, refused, timeout, HTTP error, an answer that is not JSON)
    raises one ``CapplanError`` line naming the provider and the host. The GCP key is never stored
    in the bundle or shown in a message.
    """
    name = _provider(base.provider)
    if name == "gcp" and not (api_key or "").strip():
        raise CapplanError("GCP prices: the Cloud Billing Catalog API needs an API key "
                           "(--api-key or CAPPLAN_GCP_API_KEY)")
    matchers = _matchers(base)
    if name == "azure":
        responses = _fetch_azure(matchers, base.region, timeout)
    elif name == "aws":
        responses = _fetch_aws(matchers, base.region, timeout)
    else:
        responses = _fetch_gcp(matchers, base.region, str(api_key).strip(), timeout)
    return {"format": RESPONSES_FORMAT, "provider": name, "region": base.region, "responses": responses}


def _fetch_azure(matchers: list[AzureMeter], region: str, timeout: float) -> list[dict[str, Any]]:
    responses = []
    for query in dict.fromkeys(m.query(region) for m in matchers):
        url: str | None = f"{AZURE_API}?$filter={urlparse.quote(query)}"
        for _ in range(MAX_PAGES):
            body = _get_json("azure", url, timeout)
            if _kind(body) != "azure":
                raise CapplanError(f"Azure prices: the answer from {_host(url)} has no 'Items' list")
            responses.append({"url": url, "body": body})
            url = body.get("NextPageLink") or None
            if url is None:
                break
            if _host(url) != _host(AZURE_API):
                raise CapplanError(f"Azure prices: NextPageLink points to another host ({_host(url)})")
        else:
            raise CapplanError(f"Azure prices: more than {MAX_PAGES} pages from {_host(AZURE_API)} for {query!r}")
    return responses


def _fetch_aws(matchers: list[AwsProduct], region: str, timeout: float) -> list[dict[str, Any]]:
    responses = []
    for service in sorted({m.service for m in matchers}):
        url = f"{AWS_OFFERS}/{service}/current/{region}/index.json"
        body = _get_json("aws", url, timeout)
        if _kind(body) != "aws":
            raise CapplanError(f"AWS prices: the answer from {_host(url)} for {service} is not an offer file")
        # keep only the products capplan maps (the EC2 file of one region is very large)
        mine = [m for m in matchers if m.service == service]
        products = {sku: p for sku, p in body["products"].items()
                    if isinstance(p, dict) and any(m.matches(p, region) for m in mine)}
        on_demand = _dict(body["terms"].get("OnDemand"))
        kept = {k: body[k] for k in ("formatVersion", "offerCode", "version", "publicationDate") if k in body}
        kept |= {"products": products, "terms": {"OnDemand": {sku: on_demand[sku] for sku in products if sku in on_demand}}}
        responses.append({"url": url, "body": kept})
    return responses


def _fetch_gcp(matchers: list[GcpSku], region: str, api_key: str, timeout: float) -> list[dict[str, Any]]:
    responses = []
    for service_id in sorted(GCP_SERVICES):
        kept, token = [], ""
        for _ in range(MAX_PAGES):
            params = {"key": api_key, "currencyCode": "USD", "pageSize": "5000"} | ({"pageToken": token} if token else {})
            url = f"{GCP_CATALOG}/{service_id}/skus?{urlparse.urlencode(params)}"
            body = _get_json("gcp", url, timeout, secret=api_key)
            if not isinstance(body.get("skus", []), list):
                raise CapplanError(f"GCP prices: the answer from {_host(url)} has no 'skus' list")
            kept += [s for s in body.get("skus", []) if isinstance(s, dict) and any(m.matches(s, region) for m in matchers)]
            token = str(body.get("nextPageToken") or "")
            if not token:
                break
        else:
            raise CapplanError(f"GCP prices: more than {MAX_PAGES} catalog pages for service {service_id}")
        responses.append({"url": f"{GCP_CATALOG}/{service_id}/skus?currencyCode=USD", "body": {"skus": kept}})
    return responses


def _get_json(provider: str, url: str, timeout: float, secret: str | None = None) -> dict[str, Any]:
    """GET ``url`` as JSON; any failure is one CapplanError line naming the provider and the host."""
    request = urlrequest.Request(url, headers={"Accept": "application/json", "User-Agent": "capplan-prices-refresh"})
    try:
        with urlrequest.urlopen(request, timeout=timeout) as response:
            body = json.loads(response.read())
        if not isinstance(body, dict):
            raise ValueError("not a JSON object")
        return body
    except urlerror.HTTPError as exc:
        reason = f"HTTP {exc.code} {exc.reason}"
    except urlerror.URLError as exc:
        reason = "timed out" if isinstance(exc.reason, TimeoutError) else str(exc.reason)
    except TimeoutError:
        reason = f"timed out after {timeout:g} s"
    except (OSError, http.client.HTTPException) as exc:
        reason = str(exc) or type(exc).__name__
    except ValueError:
        reason = "the answer is not a JSON object"
    message = f"cannot fetch {_LABELS[provider]} prices from {_host(url)}: {reason}"
    message = " ".join(message.split()) + " (offline? replay saved responses with --from-file)"
    raise CapplanError(message.replace(secret, "REDACTED") if secret else message) from None


def _host(url: str) -> str:
    return urlparse.urlsplit(url).hostname or "?"


# --- small helpers ----------------------------------------------------------------------------------


def _provider(provider: Any) -> str:
    name = provider.strip().lower() if isinstance(provider, str) else ""
    if name not in PROVIDERS:
        raise CapplanError(f"unknown provider {provider!r}; prices can be refreshed for {', '.join(PROVIDERS)}",
                           field="provider")
    return name


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _decimal(value: Any) -> Decimal | None:
    """A JSON number or numeric string as Decimal (a float through its shortest repr, so 0.096 stays 0.096)."""
    if isinstance(value, bool) or value is None:
        return None
    try:
        amount = Decimal(repr(value)) if isinstance(value, float) else Decimal(str(value).strip())
    except InvalidOperation:
        return None
    return amount if amount.is_finite() else None


def _plain(amount: Decimal) -> str:
    """A decimal without trailing zeros or exponent: 0.0960000000 -> "0.096", 1E+2 -> "100"."""
    return format(amount.normalize(), "f")
