"""``gridlib hotspots``: Gi* hot/cold spots (and emerging hot spots) of cases, with maps."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated

import typer

from gridlib.errors import InputError
from gridlib.progress import step

_LEVELS = ("grid", "community", "street")


def _zones(grids, level: str):
    """Zones for a level: the grids, grids dissolved to community/street, or H3 cells."""
    import gridlib.hotspots as hs

    if level == "grid":
        return grids, "grid_code", "queen"
    if level in ("community", "street"):
        key, name = f"{level}_code", f"{level}_name"
        if key not in grids.columns:
            raise InputError(f"--level {level} needs a {key!r} column in the grids")
        cols = [key] + ([name] if name in grids.columns else [])
        zones = grids[cols + ["geometry"]].dissolve(by=key, as_index=False, sort=True)
        if name in zones.columns:
            zones = zones.rename(columns={name: "name_zh"})
        return zones, key, "queen"
    match = re.fullmatch(r"h3:(\d+)", level)
    if match:
        res = int(match.group(1))
        if not 9 <= res <= 11:
            raise InputError(f"H3 resolution must be 9, 10 or 11 for unit-grid scale work, got {res}")
        return hs.h3_zones(grids, res), "h3", "h3:1"
    raise InputError(f"--level must be grid, community, street or h3:RES, got {level!r}")


_LEVEL_ZH = {"grid": "单元网格", "community": "社区", "street": "街道"}


def _period_zh(period: str) -> str:
    """``30D`` → ``30 天``, ``12W`` → ``12 周``; anything else as given."""
    match = re.fullmatch(r"(\d+)([DW])", period)
    return f" {match.group(1)} {'天' if match.group(2) == 'D' else '周'}" if match else f" {period} "


def _bins(text: str) -> tuple[int, str]:
    """``12W`` → (12, ``7D``); ``8D`` → (8, ``1D``); ``6x14D`` → (6, ``14D``)."""
    match = re.fullmatch(r"(\d+)x(\d+[DWh])", text) or re.fullmatch(r"(\d+)([DW])", text)
    if not match:
        raise InputError(f"--bins must look like 12W (12 weekly bins), 30D or 6x14D, got {text!r}")
    count, unit = int(match.group(1)), match.group(2)
    if unit in ("D", "W"):
        unit = "1D" if unit == "D" else "7D"
    elif unit.endswith("W"):
        unit = f"{int(unit[:-1]) * 7}D"
    return count, unit


def register(app: typer.Typer) -> None:
    @app.command("hotspots")
    def hotspots_cmd(
        cases: Annotated[Path, typer.Argument(help="Case file (CSV with lon/lat, GPKG, GeoJSON, Parquet)")],
        out: Annotated[Path, typer.Option("--out", "-o", help="Output folder (hotspots.gpkg, .png, .html)")],
        store: Annotated[str | None, typer.Option("--store", "-s", help="Store with a 'grids' layer "
                                                  "(GeoPackage path or postgresql:// URL)")] = None,
        grids: Annotated[Path | None, typer.Option("--grids", "-g", help="Grid file, instead of --store")] = None,
        period: Annotated[str, typer.Option(help="Window back from the latest case, e.g. 30D")] = "30D",
        level: Annotated[str, typer.Option(help="grid, community, street or h3:9|10|11")] = "grid",
        classes: Annotated[str | None, typer.Option(help="Comma-separated class codes; 2 digits = big class")] = None,
        water: Annotated[Path | None, typer.Option(help="Water polygons: zones more than half water take no part "
                                                   "(default: the store's 'water' layer, if any)")] = None,
        permutations: Annotated[str, typer.Option(help="Conditional permutations (0: analytical p only) or "
                                                  "'auto' (enough for a 10-cell cluster to pass FDR)")] = "auto",
        seed: Annotated[int, typer.Option(help="Random seed")] = 0,
        emerging: Annotated[bool, typer.Option("--emerging", help="Also run emerging hot spot analysis")] = False,
        bins: Annotated[str, typer.Option(help="Emerging time bins, e.g. 12W (12 weekly bins)")] = "12W",
        title: Annotated[str | None, typer.Option(help="Map title")] = None,
    ) -> None:
        """Count cases per zone, find Gi* hot and cold spots (permutations, FDR), draw maps.

        Writes OUT/hotspots.gpkg (layer hotspots, and emerging with --emerging),
        OUT/hotspots.png, OUT/hotspots.html (self-contained) and OUT/emerging.png.
        """
        import gridlib.hotspots as hs
        from gridlib.io import read_layer, read_points, write_gpkg
        from gridlib.maps import line_layer, to_html

        if (store is None) == (grids is None):
            raise InputError("give exactly one of --store (with a 'grids' layer) or --grids")
        if not cases.exists():
            raise InputError(f"cases {cases}: no such file")
        with step("reading grids and cases"):
            if store is not None:
                from gridlib import store as gstore
                from gridlib.commands._common import existing_store

                st = gstore.open(existing_store(store))
                if not st.has_layer("grids"):
                    raise InputError(f"store {store} has no 'grids' layer")
                grid_frame = st.read_layer("grids")
                water_frame = st.read_layer("water") if water is None and st.has_layer("water") else None
            else:
                water_frame = None
                grid_frame, grid_rejects = read_layer(grids)
                if len(grid_rejects):
                    typer.echo(f"grids: {len(grid_rejects):,} rows skipped ({grid_rejects['reason'].iloc[0]})",
                               err=True)
            if water is not None:
                water_frame, _ = read_layer(water)
            points, rejects = read_points(cases, time="reported_at")
            if len(rejects):
                typer.echo(f"cases: {len(rejects):,} rows skipped (first: {rejects['reason'].iloc[0]})", err=True)
        zones, key, weights = _zones(grid_frame, level)
        if key == "h3":
            points = points.assign(h3=hs.h3_of_cases(points, int(level.split(":")[1])))
        wanted = [c.strip() for c in classes.split(",")] if classes else None
        with step(f"Gi* over {len(zones):,} zones ({level})"):
            counted = hs.counts(points, zones, by=key, period=period, classes=wanted)
            result = hs.gistar(counted, "count", weights=weights, permutations=hs.parse_permutations(permutations),
                               seed=seed, water=water_frame)
        out.mkdir(parents=True, exist_ok=True)
        gpkg = out / "hotspots.gpkg"
        write_gpkg(result.to_crs(4326), gpkg, "hotspots")
        streets = None
        if "street_code" in grid_frame.columns and level != "street":
            streets, _, _ = _zones(grid_frame, "street")
        name = title or f"近{_period_zh(period)}案件热点（Gi*，{_LEVEL_ZH.get(level, level)}）"
        hs.hotspot_map(result, out / "hotspots.png", title=name, outlines=streets)
        layers = [hs.hotspot_layer(result)] + ([line_layer(streets, color="#222222", width_px=1.5, id="streets",
                                        columns=[c for c in ("name_zh",) if c in streets.columns])]
                            if streets is not None else [])
        to_html(layers, out / "hotspots.html", name, tooltip=hs.tooltip_html(result), legend=hs.legend_for(result))
        summary = result["hotspot_class"].astype(str).value_counts()
        typer.echo(f"{int(counted['count'].sum()):,} cases in {len(zones):,} zones; "
                   + ", ".join(f"{k} {v}" for k, v in summary.items() if k != "not_significant"))
        if emerging:
            n_bins, width = _bins(bins)
            with step(f"emerging hot spots ({n_bins} × {width})"):
                land = zones[zones[key].isin(result.loc[result["hotspot_class"] != "water_excluded", key])]
                em = hs.emerging(points, land, by=key, weights=weights, bin=width, n_bins=n_bins)
            write_gpkg(em.to_crs(4326), gpkg, "emerging")
            hs.hotspot_map(em, out / "emerging.png", title=title or f"新兴热点（{n_bins} 个时段 × {width}）",
                           outlines=streets)
            counts_em = em["category"].astype(str).value_counts()
            typer.echo("emerging: " + ", ".join(f"{k} {v}" for k, v in counts_em.items() if k != "no_pattern"))
        typer.echo(f"wrote {out}/hotspots.gpkg, hotspots.png, hotspots.html" + (", emerging.png" if emerging else ""))
