"""``gridlib grid``: build, validate, compare and import unit grids."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


def _stats_line(grids, target_area: float) -> str:
    import numpy as np

    from gridlib.grid import polsby_popper

    area = grids["area_m2"].to_numpy()
    pp = polsby_popper(grids.geometry)
    band = np.mean((area >= 0.5 * target_area) & (area <= 2 * target_area)) * 100
    return (f"{len(grids):,} grids; median area {np.median(area):,.0f} m² ({band:.1f} % within 0.5–2× target); "
            f"Polsby–Popper median {np.median(pp):.3f}, {np.mean(pp >= 0.3) * 100:.1f} % ≥ 0.3")


def _polygon_file(path: Path, layer: str | None = None) -> tuple[Path, str | None]:
    """The file and layer of *path* (``FILE:LAYER`` too) if it holds geometries; else an InputError."""
    import pyogrio

    from gridlib.errors import InputError
    from gridlib.io import which_layer

    path, layer = which_layer(path, layer)
    try:
        info = pyogrio.read_info(path, layer=layer)
    except Exception as exc:  # pyogrio raises several types for unreadable files
        raise InputError(f"{path}: cannot read it as a vector layer ({' '.join(str(exc).split())})") from exc
    if info.get("geometry_type") is None:
        raise InputError(f"{path}: has no geometry column — a grid file needs polygons "
                         "(GeoPackage, Shapefile, GeoJSON …), not a table")
    return path, layer


def _summarise(report, out: Path | None) -> int:
    errors = int((report["severity"] == "error").sum())
    warnings = int((report["severity"] == "warning").sum())
    for (sev, rule), n in report.groupby(["severity", "rule"]).size().items():
        typer.echo(f"  {sev:7s} {rule:16s} {n}")
    for row in report[report["severity"] == "error"].head(20).itertuples():
        typer.echo(f"  error: {row.message}")
    typer.echo(f"{errors} errors, {warnings} warnings" + (f"; report written to {out}" if out else ""))
    return errors


def register(app: typer.Typer) -> None:
    grid = typer.Typer(help="Unit grids: build, validate, diff, import and list editions.", no_args_is_help=True)

    @grid.command("build")
    def build_cmd(
        parents: Annotated[Path, typer.Argument(help="Admin polygons (any OGR format) with code and name fields")],
        out: Annotated[Path, typer.Option("--out", "-o", help="Output GeoPackage (layer 'grids')")],
        roads: Annotated[Path | None, typer.Option(help="Road centre-lines that cut blocks")] = None,
        road_kinds: Annotated[str | None, typer.Option(help="Keep only these comma-separated road 'kind' values")] = None,
        water: Annotated[Path | None, typer.Option(help="Water lines/polygons that cut blocks")] = None,
        layer: Annotated[str | None, typer.Option(help="Layer of the parents file")] = None,
        code_field: Annotated[str, typer.Option(help="Parent code field (6/9/12 digits)")] = "code",
        name_field: Annotated[str, typer.Option(help="Parent name field")] = "name",
        target_area: Annotated[float, typer.Option(help="Target grid area in m²")] = 10_000,
        seed: Annotated[int, typer.Option(help="0 = lattices flush with each block; other seeds shift them")] = 0,
        wgs84: Annotated[bool, typer.Option("--wgs84", help="Write WGS84 instead of the metric CRS")] = False,
    ) -> None:
        """Generate road-aware unit grids of about TARGET_AREA m² tiling the parents."""
        from gridlib.commands._common import gpkg_path
        from gridlib.grid import build
        from gridlib.io import open_layer, write_gpkg

        out = gpkg_path(out)
        par = open_layer(parents, layer)
        rd = open_layer(roads) if roads else None
        if rd is not None and road_kinds:
            rd = rd[rd["kind"].isin([k.strip() for k in road_kinds.split(",")])]
        wt = open_layer(water) if water else None
        grids = build(par, rd, wt, target_area=target_area, seed=seed, code_field=code_field, name_field=name_field)
        typer.echo(_stats_line(grids, target_area))
        write_gpkg(grids.to_crs(4326) if wgs84 else grids, out, layer="grids")
        typer.echo(f"wrote {out} (layer grids, {'EPSG:4326' if wgs84 else grids.crs.to_string()})")

    @grid.command("validate")
    def validate_cmd(
        file: Annotated[Path, typer.Argument(help="Grid file (any OGR format)")],
        parents: Annotated[Path | None, typer.Option(help="Parent polygons with a code field")] = None,
        parents_code_field: Annotated[str, typer.Option(help="Code field of the parents")] = "code",
        layer: Annotated[str | None, typer.Option(help="Layer of the grid file")] = None,
        code_field: Annotated[str | None, typer.Option(help="Field holding the grid code")] = None,
        crs: Annotated[str | None, typer.Option(help="CRS of the file when it has none (or 'gcj02')")] = None,
        target_area: Annotated[float, typer.Option(help="Target grid area in m²")] = 10_000,
        gap_width: Annotated[float, typer.Option(help="Report gaps narrower than this (m)")] = 1.0,
        report: Annotated[Path | None, typer.Option(help="Write the report (GeoPackage + .txt) here")] = None,
    ) -> None:
        """Check grids as a coverage; exit 1 when there are errors."""
        from gridlib.commands._common import gpkg_path
        from gridlib.grid import check_coverage
        from gridlib.grid.edition import open_grids, write_report
        from gridlib.io import open_layer

        report = gpkg_path(report, "--report") if report else None
        g = open_grids(*_polygon_file(file, layer), code_field, crs)
        par = None
        if parents is not None:
            par = open_layer(parents).rename(columns={parents_code_field: "code"})
        rep = check_coverage(g, par, target_area=target_area, gap_width=gap_width)
        where = write_report(rep, file, report) if report else None
        if _summarise(rep, where):
            raise SystemExit(1)  # not typer.Exit: gridlib.cli.main drops its code (standalone_mode=False)

    @grid.command("diff")
    def diff_cmd(
        old: Annotated[Path, typer.Argument(help="Old grid edition file")],
        new: Annotated[Path, typer.Argument(help="New grid edition file")],
        out: Annotated[Path | None, typer.Option("--out", "-o", help="GeoPackage for layers 'changes' and 'crosswalk'")] = None,
        code_field: Annotated[str | None, typer.Option(help="Field holding the grid code")] = None,
    ) -> None:
        """Classify per-grid changes between two editions and build the old→new crosswalk."""
        from gridlib.commands._common import gpkg_path
        from gridlib.grid import crosswalk, diff
        from gridlib.grid.edition import open_grids
        from gridlib.io import write_gpkg

        out = gpkg_path(out) if out else None
        a = open_grids(*_polygon_file(old), code_field, None)
        b = open_grids(*_polygon_file(new), code_field, None)
        changes = diff(a, b)
        for kind, n in changes["change"].value_counts().items():
            typer.echo(f"  {kind:10s} {n}")
        if out:
            import geopandas as gpd

            write_gpkg(changes, out, layer="changes")
            cw = crosswalk(a, b)
            from gridlib.store import open as open_store

            open_store(out).write_layer("crosswalk", gpd.pd.DataFrame(cw))
            typer.echo(f"wrote {out} (layers changes, crosswalk)")

    @grid.command("import")
    def import_cmd(
        file: Annotated[Path, typer.Argument(help="Planner's grid file (Shapefile, GeoPackage, GeoJSON …)")],
        store: Annotated[str, typer.Option(help="Store: a .gpkg path or a postgresql:// URL")],
        effective_date: Annotated[str, typer.Option(help="Date the new edition takes effect (YYYY-MM-DD)")],
        layer: Annotated[str | None, typer.Option(help="Layer of the grid file")] = None,
        code_field: Annotated[str | None, typer.Option(help="Field holding the grid code")] = None,
        crs: Annotated[str | None, typer.Option(help="CRS of the file when it has none (or 'gcj02')")] = None,
        note: Annotated[str, typer.Option(help="A note kept with the edition")] = "",
        parents: Annotated[Path | None, typer.Option(
            help="Parent polygons (code field 'code') to check against; default: the current edition's districts",
        )] = None,
    ) -> None:
        """Validate FILE and take it in as the new edition, all or nothing (exit 1 when refused)."""
        from gridlib.errors import ValidationError
        from gridlib.grid import import_edition
        from gridlib.io import open_layer
        from gridlib.store import open as open_store

        file, layer = _polygon_file(file, layer)
        par = open_layer(parents) if parents is not None else None
        with open_store(store) as st:
            try:
                res = import_edition(file, st, effective_date=effective_date, layer=layer,
                                     code_field=code_field, crs=crs, note=note, parents=par)
            except ValidationError as exc:
                _summarise(exc.report, None)
                typer.echo(str(exc), err=True)
                raise SystemExit(1) from exc
        summary = ", ".join(f"{k} {v}" for k, v in sorted(res.summary.items()))
        typer.echo(f"imported edition {res.edition_id} ({len(res.gridset):,} grids, valid from {effective_date}); "
                   f"changes since {res.previous or 'nothing'}: {summary}")

    @grid.command("editions")
    def editions_cmd(store: str = typer.Option(..., help="Store: a .gpkg path or a postgresql:// URL")) -> None:
        """List the grid editions of a store with their validity periods."""
        from gridlib.commands._common import existing_store
        from gridlib.grid import editions
        from gridlib.store import open as open_store

        with open_store(existing_store(store)) as st:
            table = editions(st)
        if table.empty:
            typer.echo("no grid edition yet")
            return
        for r in table.itertuples():
            mark = "*" if int(r.current) == 1 else " "
            typer.echo(f"{mark} {r.edition_id}  {r.valid_from} – {r.valid_to or 'now':10s}  {int(r.n_grids):>8,} grids"
                       f"  {r.source}  {r.note}")

    app.add_typer(grid, name="grid")
