"""`capplan prices refresh` and `capplan cost --prices` end to end, on recorded responses only."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.error
from decimal import Decimal
from pathlib import Path

import pytest

from capplan.cost.prices import load_price_book
from capplan.data import data_dir

DATA = Path(__file__).resolve().parent / "data" / "prices"
AZURE = DATA / "azure_retail_eastus.json"
TODAY = ["--today", "2026-11-27"]


def capplan(*args, cwd=None):
    env = {k: v for k, v in os.environ.items() if k != "CAPPLAN_GCP_API_KEY"}
    return subprocess.run([sys.executable, "-m", "capplan.cli", *map(str, args)], capture_output=True, text=True,
                          timeout=600, cwd=cwd, env=env)


def one_error_line(proc) -> str:
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert proc.returncode == 2 and len(lines) == 1 and lines[0].startswith("error: "), proc.stderr
    assert "Traceback" not in proc.stderr
    return lines[0]


def _recorded_items() -> list[dict]:
    return [item for entry in json.loads(AZURE.read_text())["responses"] for item in entry["body"]["Items"]]


def _recorded_item(**fields) -> dict:
    """The one recorded Retail Prices item with these field values."""
    found = [item for item in _recorded_items() if all(item[k] == v for k, v in fields.items())]
    assert len(found) == 1, found
    return found[0]


def _series_product(arm_sku: str) -> str:
    """The Linux product of a VM size ('Virtual Machines Dsv5 Series'; the Windows one ends in 'Windows')."""
    (product,) = {i["productName"] for i in _recorded_items()
                  if i["armSkuName"] == arm_sku and not i["productName"].endswith("Windows")}
    return product


def test_refreshed_azure_book_is_what_cost_prices_with(tmp_path):
    book = tmp_path / "azure-refreshed.yaml"
    proc = capplan("prices", "refresh", "--provider", "azure", "--from-file", AZURE, "--out", book, *TODAY)
    assert proc.returncode == 0, proc.stderr
    assert f"wrote {book}" in proc.stdout and "rows refreshed from the Azure Retail Prices API" in proc.stdout
    assert "redis.standard.c1" in proc.stdout  # unmapped rows are listed as kept unchanged

    proc = capplan("cost", "--tier", "tier2", "--provider", "azure", "--users", "300", "--prices", book, "--json",
                   "--replications", "2", *TODAY)
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["prices"]["file"] == str(book)
    lines = {line["price_row"]: line for line in doc["bill"]["lines"]}
    sources = doc["prices"]["sources"]
    bundled = load_price_book("azure")

    # the VM lines (app nodes): unit price and source are the recorded Linux pay-as-you-go item's
    vms = [row for row in lines if row.startswith("vm.")]
    assert vms
    for row in vms:
        size = row.removeprefix("vm.")
        linux = _recorded_item(armSkuName=f"Standard_{size}", meterName=size.replace("_", " "),
                               productName=_series_product(f"Standard_{size}"))
        assert Decimal(lines[row]["unit_price_usd"]) == Decimal(str(linux["retailPrice"]))
        assert linux["meterId"] in sources[row] and linux["meterId"] not in bundled.get(row).source
        assert (lines[row]["confidence"], lines[row]["observed"]) == ("confirmed", "2026-11-27")

    # every line priced from the recording carries its meter and price; at least one of them differs from the
    # bundled book's price (object storage, Hot LRS), so this cannot pass on bundled prices
    prices_of: dict[str, set[Decimal]] = {}  # meterId -> its recorded prices (one per tier)
    for item in _recorded_items():
        prices_of.setdefault(item["meterId"], set()).add(Decimal(str(item["retailPrice"])))
    refreshed = {row: line for row, line in lines.items() if sources.get(row, "").startswith("Azure Retail Prices API")}
    for row, line in refreshed.items():
        (meter,) = [m for m in prices_of if m in sources[row]]
        assert Decimal(line["unit_price_usd"]) in prices_of[meter]
    differ = [row for row in refreshed if Decimal(refreshed[row]["unit_price_usd"]) != bundled.get(row).usd]
    assert differ, "no bill line's refreshed price differs from the bundled book (blob.hot_lrs should)"
    # a refreshed row is confirmed and dated today: no estimate or stale-price warning names it any more
    per_row = [w["message"] for w in doc["bill"]["price_warnings"]]
    assert not [w for w in per_row for row in refreshed if f"'{row}'" in w]
    assert any(f"'{row}'" in w for w in per_row for row in lines if row not in refreshed)


def test_refresh_output_is_byte_identical_for_the_same_inputs(tmp_path):
    outs = []
    for name in ("a.yaml", "b.yaml"):
        proc = capplan("prices", "refresh", "--provider", "azure", "--from-file", AZURE, "--out", tmp_path / name,
                       *TODAY)
        assert proc.returncode == 0, proc.stderr
        outs.append(proc.stdout.replace(name, "X"))
    assert (tmp_path / "a.yaml").read_bytes() == (tmp_path / "b.yaml").read_bytes()
    assert outs[0] == outs[1]


def test_default_out_is_a_dated_file_in_the_working_folder(tmp_path):
    proc = capplan("prices", "refresh", "--provider", "azure", "--from-file", AZURE, *TODAY, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "prices-azure-2026-11-27.yaml").is_file()


def test_one_raw_api_page_refreshes_what_it_holds_and_reports_the_rest(tmp_path):
    bundle = json.loads(AZURE.read_text())
    page = next(e["body"] for e in bundle["responses"] if any(i["armSkuName"] == "Standard_D2s_v5"
                                                              for i in e["body"]["Items"]))
    raw = tmp_path / "page.json"
    raw.write_text(json.dumps(page), encoding="utf-8")
    out = tmp_path / "book.yaml"
    proc = capplan("prices", "refresh", "--provider", "azure", "--from-file", raw, "--out", out, *TODAY)
    assert proc.returncode == 0, proc.stderr
    assert "1 rows refreshed" in proc.stdout and "mapped rows kept unchanged" in proc.stdout
    assert "nat.hour: no priced item matches" in proc.stdout
    text = out.read_text(encoding="utf-8")
    assert "best knowledge; unconfirmed" in text  # nat.hour kept as it was


def test_aws_and_gcp_recorded_responses_refresh(tmp_path):
    aws = sorted(DATA.glob("aws_offer_*.json"))
    proc = capplan("prices", "refresh", "--provider", "aws", *[a for f in aws for a in ("--from-file", f)],
                   "--out", tmp_path / "aws.yaml", *TODAY)
    assert proc.returncode == 0, proc.stderr
    assert "ec2.m6i.large: 0.096" in proc.stdout and "ec2.t3.large: no priced item matches" in proc.stdout
    proc = capplan("prices", "refresh", "--provider", "gcp", "--from-file", DATA / "gcp_catalog_page1.json",
                   "--from-file", DATA / "gcp_catalog_page2.json", "--out", tmp_path / "gcp.yaml", *TODAY)
    assert proc.returncode == 0, proc.stderr  # no API key needed to replay
    assert "gce.e2-standard-2: 0.06701142" in proc.stdout


def test_offline_refresh_is_one_line_and_exit_2(monkeypatch, capsys, tmp_path):
    from capplan import cli
    from capplan.cost import refresh as lib

    def urlopen(request, timeout=None):
        raise urllib.error.URLError(OSError(101, "Network is unreachable"))

    monkeypatch.setattr(lib.urlrequest, "urlopen", urlopen)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "argv", ["capplan", "prices", "refresh", "--provider", "azure", *TODAY])
    with pytest.raises(SystemExit) as info:
        cli.main()
    err = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert info.value.code == 2 and len(err) == 1
    assert err[0].startswith("error: cannot fetch Azure prices from prices.azure.com") and "unreachable" in err[0]
    assert not list(tmp_path.iterdir())  # nothing written


@pytest.mark.parametrize("content,needle", [
    ("{truncated", "not a JSON price API response"),
    ('{"Items": "none"}', "not a price API response"),
    ('{"products": {}, "terms": {}}', "is an AWS offer file"),
])
def test_malformed_responses_file_is_one_line_exit_2(tmp_path, content, needle):
    bad = tmp_path / "responses.json"
    bad.write_text(content, encoding="utf-8")
    line = one_error_line(capplan("prices", "refresh", "--provider", "azure", "--from-file", bad, *TODAY))
    assert needle in line and str(bad) in line


@pytest.mark.parametrize("args,needle", [
    (["prices", "refresh", "--provider", "gcp", *TODAY], "API key"),
    (["prices", "refresh", "--provider", "oracle"], "--provider"),
    (["prices", "refresh", "--provider", "azure", "--from-file", AZURE, "--today", "soon"], "--today"),
    (["prices", "refresh", "--provider", "azure", "--from-file", AZURE, "--save-responses", "x.json"],
     "--save-responses"),
    (["prices", "refresh", "--provider", "aws", "--from-file", AZURE], "not 'aws'"),
])
def test_bad_refresh_input_is_one_line_exit_2(args, needle):
    assert needle in one_error_line(capplan(*args))


def test_prices_file_of_another_provider_is_refused_naming_the_option():
    gcp_book = data_dir("pricing") / "gcp.yaml"
    line = one_error_line(capplan("cost", "--tier", "tier2", "--provider", "azure", "--users", "300",
                                  "--prices", gcp_book, *TODAY))
    assert "--prices" in line and "gcp price book, not azure" in line


def test_missing_or_invalid_prices_file_is_one_line_exit_2(tmp_path):
    assert "--prices" in one_error_line(capplan("cost", "--tier", "tier2", "--provider", "azure", "--users", "300",
                                                "--prices", tmp_path / "nope.yaml", *TODAY))
    bad = tmp_path / "bad.yaml"
    bad.write_text("provider: azure\nregion: eastus\ncurrency: USD\nrows: []\n", encoding="utf-8")
    line = one_error_line(capplan("cost", "--tier", "tier2", "--provider", "azure", "--users", "300",
                                  "--prices", bad, *TODAY))
    assert "--prices" in line and "rows" in line
