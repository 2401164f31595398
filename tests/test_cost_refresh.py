"""capplan.cost.refresh on recorded price API responses (tests/data/prices): no network is ever touched."""

from __future__ import annotations

import copy
import datetime as dt
import io
import json
import urllib.error
import urllib.parse
from decimal import Decimal
from pathlib import Path

import pytest
import yaml

from capplan.cost import refresh as lib
from capplan.cost.prices import load_price_book, load_price_book_file
from capplan.errors import CapplanError

DATA = Path(__file__).resolve().parent / "data" / "prices"
AZURE = DATA / "azure_retail_eastus.json"
AWS = sorted(DATA.glob("aws_offer_*.json"))
GCP = [DATA / "gcp_catalog_page1.json", DATA / "gcp_catalog_page2.json"]
TODAY = dt.date(2026, 11, 27)


@pytest.fixture(autouse=True)
def no_network(monkeypatch):
    """Any attempt to open a URL fails the test: everything here runs on recorded responses."""

    def refuse(*args, **kwargs):
        raise AssertionError("a test touched the network")

    monkeypatch.setattr(lib.urlrequest, "urlopen", refuse)


def _azure_bodies() -> list[dict]:
    return lib.load_responses([AZURE], "azure", "eastus")


def _azure_item(bodies, arm_sku=None, product=None, meter=None) -> dict:
    """The one recorded item with these fields (the expected answer, read from the recording)."""
    found = [i for b in bodies for i in b["Items"]
             if (arm_sku is None or i["armSkuName"] == arm_sku) and (product is None or i["productName"] == product)
             and (meter is None or i["meterName"] == meter)]
    assert len(found) == 1, found
    return found[0]


def test_recorded_azure_responses_look_like_the_retail_prices_api():
    bundle = json.loads(AZURE.read_text())
    assert bundle["format"] == lib.RESPONSES_FORMAT and bundle["provider"] == "azure" and bundle["region"] == "eastus"
    fields = {"currencyCode", "tierMinimumUnits", "retailPrice", "unitPrice", "armRegionName", "location",
              "effectiveStartDate", "meterId", "meterName", "productId", "skuId", "productName", "skuName",
              "serviceName", "serviceId", "serviceFamily", "unitOfMeasure", "type", "isPrimaryMeterRegion", "armSkuName"}
    for entry in bundle["responses"]:
        assert urllib.parse.urlsplit(entry["url"]).hostname == "prices.azure.com"
        page = entry["body"]
        assert {"BillingCurrency", "CustomerEntityId", "Items", "NextPageLink", "Count"} <= set(page)
        assert page["Count"] == len(page["Items"])
        for item in page["Items"]:
            assert set(item) == fields


def test_azure_refresh_prices_every_bundled_vm_size_and_the_mapped_services():
    bodies = _azure_bodies()
    base = load_price_book("azure")
    result = lib.refresh(base, bodies, TODAY)
    book = result.book
    # every VM size of the bundled book is mapped and found (add a new size to the recording with it)
    vms = [row.id for row in base.rows if row.category == "instance" and row.id.startswith("vm.")]
    refreshed = {row_id for row_id, _, _ in result.refreshed}
    assert vms and set(vms) <= refreshed, "a VM size of pricing/azure.yaml is missing from " + AZURE.name
    for row_id in ("aks.control_plane", "appgw.v2.hour", "appgw.v2.cu", "nat.hour", "nat.gb", "lb.standard.gb",
                   "disk.premium_ssd.p10", "blob.hot_lrs", "egress.internet"):
        assert row_id in refreshed
    # the Linux pay-as-you-go item: not Windows, Spot, Low Priority (all recorded alongside it)
    linux = _azure_item(bodies, "Standard_D2s_v5", "Virtual Machines Dsv5 Series", "D2s v5")
    row = book.get("vm.D2s_v5")
    assert row.usd == Decimal(str(linux["retailPrice"])) == Decimal("0.096")
    assert linux["meterId"] in row.source and row.source.startswith("Azure Retail Prices API")
    assert (row.observed, row.confidence) == ("2026-11-27", "confirmed")
    # tiered meters: the first tier that costs something (the free 100 GB of egress is its own row)
    assert book.get("egress.internet").usd == Decimal("0.087")
    assert book.get("blob.hot_lrs").usd == Decimal("0.0208") != base.get("blob.hot_lrs").usd
    # NAT Gateway is a 'Global' meter, not an eastus one
    assert book.get("nat.hour").usd == Decimal("0.045") and "NAT Gateway" in book.get("nat.hour").source
    # unmapped rows, discounts included, are copied unchanged; roles and order stay
    for row_id in result.unmapped:
        assert book.get(row_id) == base.get(row_id)
    assert "discount.spot" in result.unmapped and "redis.standard.c1" in result.unmapped
    assert [r.id for r in book.rows] == [r.id for r in base.rows] and book.roles == base.roles
    assert all(isinstance(r.usd, Decimal) for r in book.rows if r.usd is not None)


def test_aws_offer_files_map_to_rows():
    bodies = lib.load_responses(AWS, "aws", "us-east-1")
    result = lib.refresh(load_price_book("aws"), bodies, TODAY)
    book = result.book
    m6i = book.get("ec2.m6i.large")  # Linux, shared tenancy, no SQL, not the capacity-reservation product
    assert m6i.usd == Decimal("0.096") and "SKU CAPPLANM6ILRGLNX" in m6i.source and m6i.confidence == "confirmed"
    assert book.get("s3.standard").usd == Decimal("0.023")  # first of three storage tiers
    assert book.get("egress.internet").usd == Decimal("0.09")
    assert book.get("alb.lcu").usd == Decimal("0.008") and "AWSELB offer 20251001000000" in book.get("alb.lcu").source
    assert book.get("ebs.gp3").usd == Decimal("0.08")
    # the recording has no t3.large: the row stays as it was and the reason names what was looked for
    kept = dict(result.kept)
    assert "ec2.t3.large" in kept and "BoxUsage:t3.large" in kept["ec2.t3.large"]
    assert book.get("ec2.t3.large") == load_price_book("aws").get("ec2.t3.large")


def test_gcp_catalog_pages_map_to_rows():
    bodies = lib.load_responses(GCP, "gcp", "us-central1")
    result = lib.refresh(load_price_book("gcp"), bodies, TODAY)
    book = result.book
    core, ram = Decimal("0.02181159"), Decimal("0.00292353")  # E2 core and RAM SKUs in the recording
    row = book.get("gce.e2-standard-2")
    assert row.usd == 2 * core + 8 * ram
    assert "CAP1-E2C0-0001" in row.source and "CAP1-E2R0-0001" in row.source  # not Spot, commitment or Montreal
    assert book.get("gce.e2-medium").usd == core + 4 * ram  # shared core billed as one vCPU
    egress = book.get("egress.internet")
    assert (egress.unit, egress.usd) == ("GiB", Decimal("0.12"))  # the API bills GiB
    assert book.get("pd.balanced").usd == Decimal("0.1")


def test_mapped_row_missing_from_the_responses_is_kept_and_reported():
    bodies = copy.deepcopy(_azure_bodies())
    for body in bodies:
        body["Items"] = [i for i in body["Items"] if i["armSkuName"] != "Standard_D4s_v5"]
    base = load_price_book("azure")
    result = lib.refresh(base, bodies, TODAY)
    assert result.book.get("vm.D4s_v5") == base.get("vm.D4s_v5")
    why = dict(result.kept)["vm.D4s_v5"]
    assert "no priced item" in why and "Standard_D4s_v5" in why


def test_several_prices_for_one_row_are_ambiguous_and_kept():
    bodies = copy.deepcopy(_azure_bodies())
    linux = _azure_item(bodies, "Standard_D2s_v5", "Virtual Machines Dsv5 Series", "D2s v5")
    bodies[0]["Items"].append(dict(linux, meterId="00000000-0000-0000-0000-000000000001", retailPrice=0.1))
    result = lib.refresh(load_price_book("azure"), bodies, TODAY)
    assert "ambiguous: 2 different prices (0.096, 0.1)" in dict(result.kept)["vm.D2s_v5"]


def test_a_price_effective_after_today_is_not_used_yet():
    bodies = copy.deepcopy(_azure_bodies())
    linux = _azure_item(bodies, "Standard_D2s_v5", "Virtual Machines Dsv5 Series", "D2s v5")
    bodies[0]["Items"].append(dict(linux, retailPrice=0.101, effectiveStartDate="2027-01-01T00:00:00Z"))
    book = load_price_book("azure")
    assert lib.refresh(book, bodies, TODAY).book.get("vm.D2s_v5").usd == Decimal("0.096")
    later = lib.refresh(book, bodies, dt.date(2027, 2, 1)).book.get("vm.D2s_v5")
    assert later.usd == Decimal("0.101") and later.observed == "2027-02-01"


def test_refresh_output_is_byte_identical_and_loads_like_a_bundled_book(tmp_path):
    first = lib.dump_book(lib.refresh(load_price_book("azure"), _azure_bodies(), TODAY))
    second = lib.dump_book(lib.refresh(load_price_book("azure"), _azure_bodies(), TODAY))
    assert first == second
    path = lib.write_book(lib.refresh(load_price_book("azure"), _azure_bodies(), TODAY), tmp_path / "azure.yaml")
    assert path.read_text(encoding="utf-8") == first
    loaded = load_price_book_file(path, "azure")
    assert loaded == lib.refresh(load_price_book("azure"), _azure_bodies(), TODAY).book
    assert isinstance(yaml.safe_load(first)["rows"][0]["usd"], str)  # money stays a quoted string


def test_responses_that_price_nothing_are_an_error():
    bodies = [{"BillingCurrency": "USD", "Items": [], "NextPageLink": None, "Count": 0}]
    with pytest.raises(CapplanError, match="none of the .* mapped azure rows has a price"):
        lib.refresh(load_price_book("azure"), bodies, TODAY)


@pytest.mark.parametrize("content,needle", [
    ("{not json", "not a JSON price API response"),
    ('{"Items": [1, 2]}', "not a price API response"),
    ('{"skus": []}', "is a Cloud Billing Catalog page"),
    ('{"format": "capplan-price-responses/1", "provider": "aws", "responses": []}', "for 'aws', not 'azure'"),
    ('{"format": "capplan-price-responses/1", "provider": "azure", "region": "westeurope", "responses": []}',
     "region 'westeurope'"),
    ("[]", "holds no responses"),
])
def test_malformed_or_foreign_responses_name_the_file(tmp_path, content, needle):
    path = tmp_path / "responses.json"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(CapplanError, match=needle) as info:
        lib.load_responses([path], "azure", "eastus")
    assert str(path) in str(info.value) and "\n" not in str(info.value)


def _fake_urlopen(pages: dict[str, dict], seen: list[str]):
    def urlopen(request, timeout=None):
        url = request.full_url
        seen.append(url)
        body = pages.get(url, {"BillingCurrency": "USD", "Items": [], "NextPageLink": None, "Count": 0})
        return io.BytesIO(json.dumps(body).encode())

    return urlopen


def test_fetch_sends_the_recorded_queries_follows_next_page_links_and_replays_the_same(monkeypatch, tmp_path):
    recorded = json.loads(AZURE.read_text())
    pages = {entry["url"]: entry["body"] for entry in recorded["responses"]}
    # split one recorded answer over two pages to follow NextPageLink
    vm_url = next(url for url, body in pages.items() if "Standard_D2s_v5" in urllib.parse.unquote(url))
    items = pages[vm_url]["Items"]
    page2 = vm_url + "&$skip=1000"
    pages[vm_url] = dict(pages[vm_url], Items=items[:1], Count=1, NextPageLink=page2.replace("https://prices.azure.com/",
                                                                                           "https://prices.azure.com:443/"))
    pages[page2.replace("https://prices.azure.com/", "https://prices.azure.com:443/")] = dict(
        pages[vm_url], Items=items[1:], Count=len(items) - 1, NextPageLink=None)
    seen: list[str] = []
    monkeypatch.setattr(lib.urlrequest, "urlopen", _fake_urlopen(pages, seen))
    base = load_price_book("azure")
    bundle = lib.fetch(base)
    assert set(recorded_url for recorded_url in pages) <= set(seen)  # every recorded query was asked, both pages
    saved = lib.save_responses(bundle, tmp_path / "bundle.json")
    replayed = lib.refresh(base, lib.load_responses([saved], "azure", "eastus"), TODAY)
    assert lib.dump_book(replayed) == lib.dump_book(lib.refresh(base, _azure_bodies(), TODAY))


@pytest.mark.parametrize("error,needle", [
    (urllib.error.URLError(ConnectionRefusedError(111, "Connection refused")), "Connection refused"),
    (urllib.error.URLError(OSError("[Errno -3] Temporary failure in name resolution")), "name resolution"),
    (TimeoutError("timed out"), "timed out"),
    (urllib.error.HTTPError("https://prices.azure.com/api/retail/prices", 503, "Service Unavailable", {}, None),
     "HTTP 503"),
])
def test_any_network_failure_is_one_line_naming_provider_and_host(monkeypatch, error, needle):
    def urlopen(request, timeout=None):
        raise error

    monkeypatch.setattr(lib.urlrequest, "urlopen", urlopen)
    with pytest.raises(CapplanError) as info:
        lib.fetch(load_price_book("azure"))
    message = str(info.value)
    assert "Azure" in message and "prices.azure.com" in message and needle in message and "\n" not in message


def test_gcp_needs_an_api_key_and_never_shows_it(monkeypatch):
    with pytest.raises(CapplanError, match="needs an API key"):
        lib.fetch(load_price_book("gcp"))

    def urlopen(request, timeout=None):
        raise urllib.error.HTTPError(request.full_url, 403, f"Forbidden for {request.full_url}", {}, None)

    monkeypatch.setattr(lib.urlrequest, "urlopen", urlopen)
    with pytest.raises(CapplanError) as info:
        lib.fetch(load_price_book("gcp"), api_key="SECRET-KEY-123")
    assert "cloudbilling.googleapis.com" in str(info.value) and "SECRET-KEY-123" not in str(info.value)


def test_a_price_book_file_of_another_provider_is_refused(tmp_path):
    path = lib.write_book(lib.refresh(load_price_book("azure"), _azure_bodies(), TODAY), tmp_path / "book.yaml")
    with pytest.raises(CapplanError, match="azure price book, not aws"):
        load_price_book_file(path, "aws")
    bad = tmp_path / "bad.yaml"
    bad.write_text(path.read_text().replace("usd: '0.096'", "usd: 0.096", 1), encoding="utf-8")
    with pytest.raises(CapplanError, match="quoted decimal string"):  # validated like the bundled books
        load_price_book_file(bad, "azure")
