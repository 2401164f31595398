"""`capplan prices ...`: refresh a price book from a provider's public price source. Parse, call
capplan.cost.refresh, format; registered on the main app in capplan.cli."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Annotated, Optional

import typer

from capplan.errors import CapplanError

app = typer.Typer(no_args_is_help=True, help="Price books: refresh one from a provider's public price source.")


@app.callback()
def _prices():
    """Price books: refresh one from a provider's public price source."""


@app.command()
def refresh(
    provider: Annotated[str, typer.Option(help="azure, aws or gcp.")],
    out_file: Annotated[Optional[Path], typer.Option("--out", help="Price book to write (default: ./prices-<provider>-<date>.yaml).")] = None,
    from_file: Annotated[Optional[list[Path]], typer.Option("--from-file", help="Replay recorded responses instead of the network: a bundle from --save-responses, a raw API page/offer file, or a JSON list of them (repeatable).")] = None,
    save_responses: Annotated[Optional[Path], typer.Option("--save-responses", help="Also write what was downloaded, for a later --from-file.")] = None,
    api_key: Annotated[Optional[str], typer.Option("--api-key", envvar="CAPPLAN_GCP_API_KEY", show_envvar=True, help="GCP only: a Google Cloud API key with the Cloud Billing API enabled.")] = None,
    today: Annotated[Optional[str], typer.Option(help="Observed date of the refreshed rows (YYYY-MM-DD; default: today).")] = None,
    timeout: Annotated[float, typer.Option(help="Seconds to wait for each HTTP answer.")] = 30,
):
    """Price the bundled book's mapped rows from the provider's public prices; write a dated price book."""
    from capplan.cli import _today, out
    from capplan.cost import refresh as lib
    from capplan.cost.prices import load_price_book

    name = provider.strip().lower()
    if name not in lib.PROVIDERS:
        raise CapplanError(f"must be one of {', '.join(lib.PROVIDERS)}, got {provider!r}", field="--provider")
    if not (math.isfinite(timeout) and 0 < timeout <= 600):
        raise CapplanError(f"must be a number of seconds in (0, 600], got {timeout:g}", field="--timeout")
    date = _today(today)
    base = load_price_book(name)
    if from_file:
        if save_responses is not None:
            raise CapplanError("only with a download, not with --from-file", field="--save-responses")
        bodies = lib.load_responses(from_file, name, base.region)
        origin = ", ".join(str(p) for p in from_file)
    else:
        bundle = lib.fetch(base, api_key=api_key, timeout=timeout)
        if save_responses is not None:
            lib.save_responses(bundle, save_responses)
        bodies = [entry["body"] for entry in bundle["responses"]]
        origin = f"{len(bodies)} responses downloaded"
    result = lib.refresh(base, bodies, date)
    target = lib.write_book(result, out_file or Path(f"prices-{name}-{date.isoformat()}.yaml"))
    out.print(f"{len(result.refreshed)} rows refreshed from the {result.api} ({origin}), observed {date.isoformat()}",
              highlight=False)
    for row_id, old, new in result.refreshed:
        change = "same price" if old == new else f"was {old:f}"
        out.print(f"  {row_id}: {new.normalize():f} ({change})", highlight=False)
    if result.kept:
        out.print(f"{len(result.kept)} mapped rows kept unchanged (no single price in the responses):", highlight=False)
        for row_id, why in result.kept:
            out.print(f"  {row_id}: {why}", highlight=False)
    out.print(f"{len(result.unmapped)} rows kept unchanged (no {result.api} mapping): {', '.join(result.unmapped)}",
              highlight=False)
    if save_responses is not None:
        out.print(f"responses saved to {save_responses}", highlight=False)
    out.print(f"wrote {target}; use it with: capplan cost --provider {name} --prices {target} ...", highlight=False)
