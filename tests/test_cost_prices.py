"""Price books: every file loads, every row carries provenance, bad files fail naming file and field."""

from __future__ import annotations

import csv
import re
import datetime as dt
from decimal import Decimal
from pathlib import Path

import pytest
import yaml

from capplan.cost.prices import (
    PriceRow,
    known_providers,
    load_llm_prices,
    load_price_book,
    price_row_warnings,
    price_warning_summary,
    price_warnings,
)
from capplan.data import data_dir
from capplan.errors import CapplanError

PROVIDERS = ["aws", "azure", "gcp"]
PRICING = data_dir("pricing")
TODAY = dt.date(2026, 11, 27)
RESEARCH_CSV = Path(__file__).resolve().parents[2] / "shared" / "research" / "prices.csv"


def _raw_rows(name: str) -> list[dict]:
    return yaml.safe_load((PRICING / f"{name}.yaml").read_text(encoding="utf-8"))["rows"]


def _write(tmp_path: Path, name: str, data: dict | str) -> Path:
    path = tmp_path / f"{name}.yaml"
    path.write_text(data if isinstance(data, str) else yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


def _aws_copy() -> dict:
    return yaml.safe_load((PRICING / "aws.yaml").read_text(encoding="utf-8"))


# --- the bundled files ----------------------------------------------------------------------------


def test_known_providers_are_the_three_clouds():
    assert known_providers() == PROVIDERS


@pytest.mark.parametrize("provider", PROVIDERS)
def test_every_price_file_loads(provider):
    book = load_price_book(provider)
    assert book.provider == provider
    assert book.currency == "USD"
    assert len(book.rows) >= 20
    for role in book.roles:
        book.role(role)  # every role resolves


def test_llm_file_loads_with_the_illustrative_rate():
    llm = load_llm_prices()
    row = llm.get("illustrative")
    assert (row.input_usd_per_mtok, row.output_usd_per_mtok) == (Decimal("2.50"), Decimal("10.00"))
    assert row.confidence == "estimate"
    assert len(llm.rows) >= 3


@pytest.mark.parametrize("name", PROVIDERS + ["llm"])
def test_every_row_has_provenance_and_unique_id(name):
    raw = _raw_rows(name)
    ids = [row["id"] for row in raw]
    assert len(ids) == len(set(ids)), "duplicate ids"
    for row in raw:
        for field in ("source", "observed", "confidence", "description"):
            assert str(row.get(field, "")).strip(), f"{row['id']} lacks {field}"
        assert row["confidence"] in ("confirmed", "derived", "estimate")
        if row["observed"] == "unknown":
            assert row["confidence"] == "estimate", f"{row['id']}: an unknown date can only be an estimate"
        for money in ("usd", "fraction", "input_usd_per_mtok", "output_usd_per_mtok"):
            if money in row:
                assert isinstance(row[money], str), f"{row['id']}.{money} must be a quoted string"


@pytest.mark.parametrize("provider", PROVIDERS)
def test_unconfirmed_guesses_say_so(provider):
    for row in load_price_book(provider).rows:
        if "best knowledge" in row.source:
            assert row.confidence == "estimate", row.id
        if row.confidence == "estimate":
            assert row.observed == "unknown", row.id


@pytest.mark.parametrize("provider", PROVIDERS)
def test_confirmed_and_derived_rows_match_the_research_table(provider):
    """Anything not marked estimate must be a price and date that prices.csv holds for that cloud, or
    cite the public page it was read from (an https URL in its source) with the date that page states."""
    if not RESEARCH_CSV.is_file():
        pytest.skip("shared/research/prices.csv not beside the checkout")
    recorded: set[tuple[Decimal, str, str]] = set()
    with RESEARCH_CSV.open(encoding="utf-8") as handle:
        for rec in csv.DictReader(handle):
            if rec["cloud"] == provider:
                for part in rec["usd"].split("/"):
                    recorded.add((Decimal(part.strip()), rec["as_of"], rec["confidence"]))
    cited = re.compile(r"^\d{4}-\d{2}(-\d{2})?$")
    book = load_price_book(provider)
    ids = {row.id for row in book.rows}
    for row in book.rows:
        if row.confidence != "estimate":
            from_page = "https://" in row.source and cited.match(row.observed) is not None
            # derived: arithmetic on another row of this book, which the source names
            from_row = (row.confidence == "derived" and row.source.startswith("derived:")
                        and any(re.search(rf"\b{re.escape(other)}\b", row.source) for other in ids - {row.id}))
            assert (row.usd, row.observed, row.confidence) in recorded or from_page or from_row, row.id


@pytest.mark.parametrize("provider", PROVIDERS)
def test_app_node_sizes_and_purchase_discounts_exist(provider):
    book = load_price_book(provider)
    sizes = {row.vcpu for row in book.instances("instance") if not row.burstable}
    assert {Decimal(2), Decimal(4), Decimal(8)} <= sizes
    one, three, spot = (book.get(f"discount.{name}") for name in ("commit_1y", "commit_3y", "spot"))
    assert Decimal(0) < one.fraction < three.fraction < 1
    assert Decimal(0) < spot.fraction < 1
    for row in (one, three, spot):
        assert row.confidence == "estimate"


@pytest.mark.parametrize("provider", PROVIDERS)
def test_sized_rows_carry_specs_and_instances_sort_cheapest_first(provider):
    book = load_price_book(provider)
    for category in ("instance", "cache", "database", "queue"):
        rows = book.instances(category)
        assert [(r.price, r.id) for r in rows] == sorted((r.price, r.id) for r in rows)
        for row in rows:
            assert row.vcpu > 0 and row.memory_gib > 0


def test_known_specs_of_well_known_types():
    aws = load_price_book("aws")
    assert (aws.get("ec2.m6i.large").vcpu, aws.get("ec2.m6i.large").memory_gib) == (2, 8)
    assert aws.get("ec2.m6i.large").usd == Decimal("0.096")
    assert aws.get("eks.control_plane").usd * 730 == Decimal("73.000")


# --- lookups ----------------------------------------------------------------------------------------


def test_unknown_provider_is_named_with_the_known_ones():
    with pytest.raises(CapplanError) as info:
        load_price_book("oracle")
    message = str(info.value)
    assert "oracle" in message and "provider" in message
    for name in PROVIDERS:
        assert name in message


def test_unknown_sku_is_named_and_never_zero():
    book = load_price_book("gcp")
    with pytest.raises(CapplanError) as info:
        book.get("gce.n9-imaginary-64")
    assert "gce.n9-imaginary-64" in str(info.value) and "gcp" in str(info.value)


def test_unknown_llm_model_is_named():
    with pytest.raises(CapplanError, match="gpt-7"):
        load_llm_prices().get("gpt-7")


def test_unknown_category_and_role_are_named():
    book = load_price_book("aws")
    with pytest.raises(CapplanError, match="gpu"):
        book.instances("gpu")
    with pytest.raises(CapplanError, match="teleporter"):
        book.role("teleporter")


def test_with_rows_replaces_and_adds():
    book = load_price_book("aws")
    custom = book.get("ec2.m6i.large").model_copy(update={"usd": Decimal("0.05"), "source": "contract"})
    extra = PriceRow(
        id="discount.negotiated", description="EDP", unit="fraction", fraction="0.07", region="us-east-1",
        source="contract", observed="2026-01", confidence="confirmed",
    )
    changed = book.with_rows([custom, extra])
    assert changed.get("ec2.m6i.large").usd == Decimal("0.05")
    assert changed.get("discount.negotiated").fraction == Decimal("0.07")
    assert len(changed.rows) == len(book.rows) + 1
    assert book.get("ec2.m6i.large").usd == Decimal("0.096")  # original untouched


def test_loading_is_deterministic():
    assert load_price_book("azure").model_dump_json() == load_price_book("azure").model_dump_json()


# --- bad files fail naming the file and field ------------------------------------------------------


def _error_for(tmp_path: Path, data: dict | str, provider: str = "aws") -> str:
    path = _write(tmp_path, provider, data)
    with pytest.raises(CapplanError) as info:
        load_price_book(provider, tmp_path)
    message = str(info.value)
    assert str(path) in message
    return message


def test_missing_field_names_file_row_and_field(tmp_path):
    data = _aws_copy()
    del data["rows"][3]["source"]
    message = _error_for(tmp_path, data)
    assert "rows[3]" in message and "ec2.m6i.large" in message and "source" in message and "missing" in message


def test_malformed_yaml_names_file_and_line(tmp_path):
    message = _error_for(tmp_path, "provider: aws\nrows: [\n  {id: x, usd: \"1\"\n")
    assert "malformed YAML" in message and "line" in message


def test_bad_confidence_is_named(tmp_path):
    data = _aws_copy()
    data["rows"][0]["confidence"] = "pretty sure"
    message = _error_for(tmp_path, data)
    assert "confidence" in message and "ec2.t3.medium" in message


@pytest.mark.parametrize("bad", ["cheap", "1,5", "-0.1", "NaN"])
def test_non_numeric_price_is_named(tmp_path, bad):
    data = _aws_copy()
    data["rows"][1]["usd"] = bad
    message = _error_for(tmp_path, data)
    assert "usd" in message and "ec2.t3.large" in message


def test_float_price_is_refused(tmp_path):
    data = _aws_copy()
    data["rows"][1]["usd"] = 0.0832
    assert "quoted" in _error_for(tmp_path, data)


def test_bad_observed_date_is_named(tmp_path):
    data = _aws_copy()
    data["rows"][2]["observed"] = "2024-13"
    assert "observed" in _error_for(tmp_path, data)


def test_unknown_field_is_named(tmp_path):
    data = _aws_copy()
    data["rows"][0]["prise"] = "1"
    assert "prise" in _error_for(tmp_path, data)


def test_duplicate_id_and_dangling_role_fail(tmp_path):
    data = _aws_copy()
    data["rows"].append(dict(data["rows"][0]))
    assert "duplicate" in _error_for(tmp_path, data) and "ec2.t3.medium" in _error_for(tmp_path, data)
    data = _aws_copy()
    data["roles"]["egress"] = "egress.nowhere"
    assert "egress.nowhere" in _error_for(tmp_path, data)


def test_provider_must_match_file_name(tmp_path):
    data = _aws_copy()
    data["provider"] = "gcp"
    assert "provider" in _error_for(tmp_path, data)


def test_missing_price_on_a_price_row_fails(tmp_path):
    data = _aws_copy()
    del data["rows"][0]["usd"]
    assert "usd" in _error_for(tmp_path, data)


def test_custom_folder_lists_only_its_own_providers(tmp_path):
    _write(tmp_path, "aws", _aws_copy())
    assert load_price_book("AWS", tmp_path).provider == "aws"
    with pytest.raises(CapplanError, match="gcp"):
        load_price_book("gcp", tmp_path)


def test_malformed_llm_file_is_named(tmp_path):
    path = _write(tmp_path, "llm", {"kind": "llm", "currency": "USD", "rows": [{"id": "m", "description": "d"}]})
    with pytest.raises(CapplanError) as info:
        load_llm_prices(tmp_path)
    assert str(path) in str(info.value) and "input_usd_per_mtok" in str(info.value)


# --- warnings ---------------------------------------------------------------------------------------


def _row(**kw) -> PriceRow:
    base = dict(
        id="x.y", description="d", unit="hour", usd="1", region="r", source="s", observed="2026-11-01",
        confidence="confirmed",
    )
    return PriceRow(**(base | kw))


def test_estimates_unknown_dates_and_old_prices_warn():
    lines = price_warnings(
        [
            _row(id="fresh"),
            _row(id="guess", confidence="estimate", observed="unknown", source="best knowledge; unconfirmed"),
            _row(id="old", observed="2024-07"),
            _row(id="future", observed="2027-01"),
        ],
        TODAY,
    )
    assert len(lines) == 3
    assert "'guess'" in lines[0] and "estimate" in lines[0] and "unknown" in lines[0]
    assert "'old'" in lines[1] and "2024-07" in lines[1] and "879 days" in lines[1]
    assert "'future'" in lines[2] and "after" in lines[2]


def test_staleness_boundary_is_180_days():
    at_limit = TODAY - dt.timedelta(days=180)
    past_limit = TODAY - dt.timedelta(days=181)
    assert price_warnings([_row(observed=at_limit.isoformat())], TODAY) == []
    assert len(price_warnings([_row(observed=past_limit.isoformat())], TODAY)) == 1


def test_one_warning_per_row_even_when_used_twice():
    row = _row(confidence="estimate", observed="unknown")
    assert len(price_warnings([row, row, row], TODAY)) == 1


def test_bundled_estimates_warn():
    book = load_price_book("aws")
    lines = price_warnings([book.get("ec2.c6i.xlarge"), book.get("discount.spot")], TODAY)
    assert len(lines) == 2 and all("estimate" in line for line in lines)


def test_row_warnings_carry_the_details_as_data():
    rows = [_row(id="fresh"), _row(id="guess", confidence="estimate", observed="unknown"),
            _row(id="old", observed="2024-07"), _row(id="future", observed="2027-01")]
    details = price_row_warnings(rows + rows, TODAY)
    assert [(w.id, w.issues, w.age_days) for w in details] == [
        ("guess", ("estimate", "unknown_date"), None), ("old", ("stale",), 879), ("future", ("future",), -35)]
    assert [w.message for w in details] == price_warnings(rows, TODAY)
    assert details[0].where == "r" and details[1].observed == "2024-07"
    llm = load_llm_prices().rows[0]
    assert any(w.where == "llm" for w in price_row_warnings([llm], dt.date(2030, 1, 1)))


def test_summary_is_one_line_counting_each_kind():
    rows = [_row(id="fresh"), _row(id="g1", confidence="estimate", observed="unknown"),
            _row(id="g2", confidence="estimate", observed="unknown"), _row(id="old", observed="2024-07"),
            _row(id="older", observed="2023-01"), _row(id="nodate", observed="unknown"),
            _row(id="future", observed="2027-01")]
    line = price_warning_summary(rows + rows, TODAY, "aws")
    assert "\n" not in line
    assert line.startswith("prices: 2 of 7 rows are older than 180 days (oldest: older, observed 2023-01, ")
    assert "2 are unconfirmed estimates, 1 has no observed date, 1 is dated after 2026-11-27;" in line
    assert "`capplan prices refresh --provider aws`" in line and "price_warnings in the JSON output" in line


def test_summary_wording_for_one_row_and_for_none():
    assert price_warning_summary([_row(id="fresh")], TODAY) is None
    assert price_warning_summary([], TODAY) is None
    line = price_warning_summary([_row(id="fresh"), _row(id="g", confidence="estimate")], TODAY)
    assert line.startswith("prices: 1 of 2 rows is an unconfirmed estimate; refresh with `capplan prices refresh`")
    line = price_warning_summary([_row(id="old", observed="2024-07")], TODAY)
    assert line.startswith("prices: 1 of 1 row is older than 180 days (oldest: old, observed 2024-07, 879 days)")
