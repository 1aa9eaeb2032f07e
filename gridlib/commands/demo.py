"""``gridlib demo-data``: generate the seeded, synthetic demo data set over the real demo area."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer


def register(app: typer.Typer) -> None:
    @app.command("demo-data")
    def demo_data(
        out: Annotated[Path, typer.Option("--out", "-o", help="Output folder (created; files are replaced)")],
        seed: Annotated[int, typer.Option("--seed", help="Random seed: the same seed gives identical files")] = 0,
        days: Annotated[int, typer.Option("--days", help="Days of cases up to --end-date")] = 120,
        end_date: Annotated[str, typer.Option("--end-date", help="Last day of cases (YYYY-MM-DD)")] = "2026-11-21",
        n_cases: Annotated[int, typer.Option("--cases", help="Number of cases")] = 15_000,
        n_trucks: Annotated[int, typer.Option("--trucks", help="Muck trucks in the night (>= 1)")] = 20,
    ) -> None:
        """Write synthetic cases, components, cameras, team bases, responsibility, road sections,
        frontage zones, truck sites/permits/GPS fixes and truth.json to OUT (WGS84, seeded)."""
        import gridlib as gl

        paths = gl.demo.generate(out, seed=seed, days=days, end_date=end_date, n_cases=n_cases, n_trucks=n_trucks)
        counts = json.loads(paths["truth"].read_text(encoding="utf-8"))["counts"]
        typer.echo(f"synthetic demo data (seed {seed}) in {out}:")
        for layer, path in paths.items():
            n = counts.get(layer)
            typer.echo(f"  {path.name:<24}{'' if n is None else f'{n:>8,} rows'}")
