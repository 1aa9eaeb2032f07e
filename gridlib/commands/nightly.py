"""``gridlib nightly``: the responsibility-map run for one date."""

from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path

import typer


def register(app: typer.Typer) -> None:
    @app.command("nightly")
    def nightly(
        store: str = typer.Option(..., "--store", help="A .gpkg path or a postgresql:// URL holding grids and inputs."),
        date: str = typer.Option(None, "--date", help="Day to report on (YYYY-MM-DD); default yesterday."),
        out: Path = typer.Option(Path("products"), "--out", help="Products go to OUT/<date>/."),
        permutations: str = typer.Option("auto", help="Gi* permutations, or 'auto' (enough for a 10-grid "
                                         "cluster to pass FDR; gistar's and the library's default)."),
        staff_phone: bool = typer.Option(False, "--staff-phone", help="Include responsible staff's phone numbers."),
        log_file: Path = typer.Option(None, "--log-file", help="Also log to this file (default OUT/nightly.log)."),
        max_age_days: float = typer.Option(2.0, "--max-age-days", help="Warn when the latest case or truck fix is "
                                           "older than this many days before the end of the date."),
        strict: bool = typer.Option(False, "--strict", help="Freshness warnings are fatal: exit 3 and publish "
                                    "nothing (the previous products stay)."),
    ) -> None:
        """Assign, check trucks, compute KPIs, hotspots, coverage and reachability, write the products.

        Freshness warnings (no cases reported that day, no truck fixes in its night, inputs older than
        --max-age-days) go to stderr and the manifest's ``warnings``; with --strict they exit 3.
        """
        import logging
        import signal

        from gridlib.commands._common import existing_store, parse_day
        from gridlib.nightly import NightlyOptions, run_nightly
        from gridlib.store import open as open_store

        # a scheduler's SIGTERM unwinds like an error: the half-written run directory is removed and
        # the previous products stay published
        signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
        day = parse_day(date) if date else dt.date.today() - dt.timedelta(days=1)
        existing_store(store)
        out.mkdir(parents=True, exist_ok=True)
        handler = logging.FileHandler(log_file or out / "nightly.log", encoding="utf-8")
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        logging.getLogger("gridlib").addHandler(handler)
        try:
            from gridlib.hotspots import parse_permutations

            options = NightlyOptions(permutations=parse_permutations(permutations), include_staff_phone=staff_phone,
                                     max_input_age_days=max_age_days, strict=strict)
            with open_store(store) as st:
                manifest = run_nightly(st, day, out, options=options)
        finally:
            logging.getLogger("gridlib").removeHandler(handler)
            handler.close()
        steps = {s["name"]: s for s in manifest["steps"]}
        assign = steps["assign cases"]
        typer.echo(f"nightly {day}: {assign['rows_out']} cases assigned, {assign['rejected']} rejected "
                   f"{assign['rejected_by_reason']}")
        typer.echo(f"products: {(out / day.isoformat()).absolute()}")
        if manifest["warnings"]:
            typer.echo(f"{len(manifest['warnings'])} freshness warning(s): "
                       + ", ".join(w["code"] for w in manifest["warnings"]) + " (see the manifest)")
