"""``gridlib assign``: cases → grid, community, street and responsible unit."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


def _read_geo(path: Path | None):
    if path is None:
        return None
    from gridlib.io import open_layer

    return open_layer(path)


def _read_cases(path: str, mapping: dict[str, str], when: str | None):
    """The case table with its columns mapped (--columns, --x/--y, Chinese headers) and Chinese values read."""
    from gridlib.cases.log import LOG_COLUMNS, map_values
    from gridlib.io import load_table

    return map_values(load_table(path, columns=mapping, wanted=(*LOG_COLUMNS, when)))


def _grid_editions(store, when: str | None):
    from gridlib.grid import GridSet
    from gridlib.grid.model import edition_table

    if when is None:
        return GridSet.from_store(store)
    eds = edition_table(store)
    return [GridSet.from_store(store, at=v or None) for v in eds["valid_from"]]


def _null_geometry(frame):
    import geopandas as gpd
    import pandas as pd

    frame = pd.DataFrame(frame).drop(columns=[c for c in frame.columns if c == "geometry"])
    return gpd.GeoDataFrame(frame, geometry=gpd.GeoSeries([None] * len(frame), index=frame.index), crs=4326)


def _write(frame, out: Path, layer: str) -> None:
    from gridlib.io import write_any

    if out.suffix.lower() == ".gpkg":
        write_any(frame, out, layer=layer)
    else:
        write_any(frame, out.with_name(f"{out.stem}_{layer}{out.suffix}"))


def _report(n_in: int, n_done: int, rejects) -> None:
    """One line per reject code with its count and meaning, as in the nightly's manifest (never per record)."""
    from gridlib.rejects import CODES, counts

    typer.echo(f"{n_in:,} cases in, {n_done:,} assigned, {len(rejects):,} rejected")
    if not len(rejects):
        return
    for code, n in counts(rejects).items():
        typer.echo(f"  {n:>8,}  {code}: {CODES.get(code, '')}")


def register(app: typer.Typer) -> None:
    @app.command("assign")
    def assign_cmd(
        cases: Annotated[str, typer.Argument(help="Case file (CSV/GPKG/GeoJSON/Parquet), or a layer name with --in-db")],
        store: Annotated[str, typer.Option("--store", help="Store holding the grids (GeoPackage path or postgresql://)")],
        out: Annotated[Path, typer.Option("--out", "-o", help="Output: .gpkg (layers assigned, rejects) or "
                                          ".csv/.parquet/.geojson (OUT_assigned.*, OUT_rejects.*)")],
        crs: Annotated[str, typer.Option(help="CRS of lon/lat: EPSG code, 'gcj02' or 'bd09'")] = "EPSG:4326",
        rules: Annotated[Path | None, typer.Option(help="Responsibility rules by class (CSV or TOML)")] = None,
        components: Annotated[Path | None, typer.Option(help="Component inventory (points)")] = None,
        zones: Annotated[Path | None, typer.Option(help="Frontage / sanitation zones (polygons)")] = None,
        roads: Annotated[Path | None, typer.Option(help="Road sections with unit and width_m (lines)")] = None,
        responsibility: Annotated[Path | None, typer.Option(help="Responsibility table (level, code, unit, team)")] = None,
        when: Annotated[str | None, typer.Option(help="Time column choosing the grid edition (e.g. reported_at)")] = None,
        near_boundary_m: Annotated[float, typer.Option(help="Flag cases this close to another grid")] = 20.0,
        in_db: Annotated[bool, typer.Option("--in-db", help="Assign inside PostGIS (grid only; ST_Covers)")] = False,
        x: Annotated[str | None, typer.Option("--x", help="Column of the longitude / x (default: lon, or 经度 …)")] = None,
        y: Annotated[str | None, typer.Option("--y", help="Column of the latitude / y (default: lat, or 纬度 …)")] = None,
        columns: Annotated[str | None, typer.Option(help="Column mapping SOURCE=NAME,… (e.g. 单号=case_id); "
                                                    "common Chinese headers are recognised without it")] = None,
    ) -> None:
        """Assign CASES to grid, community, street, district and responsible unit; write both layers."""
        import pandas as pd

        import gridlib as gl
        from gridlib.assignment import assign, assign_in_db
        from gridlib.commands._common import existing_store
        from gridlib.errors import InputError
        from gridlib.progress import step

        st = gl.store.open(existing_store(store))
        try:
            if in_db:
                if not hasattr(st, "connection"):
                    raise InputError("--in-db needs a PostGIS store (postgresql://...)")
                if Path(cases).exists():
                    with step("loading cases into the store"):
                        frame, rejects = gl.io.read_points(cases, crs=crs, id="case_id",
                                                           columns=gl.io.parse_columns(columns, x=x, y=y))
                        st.write_layer("cases", frame)
                    layer = "cases"
                else:
                    layer, rejects = cases, gl.rejects.empty()
                    frame = st.read_layer(layer)
                with step("assigning in PostGIS"):
                    res = assign_in_db(st, layer, "grids")
                frame = frame.assign(case_id=frame["case_id"].astype(str))
                outside = res["grid_code"].isna()
                late = frame[frame["case_id"].isin(res["case_id"][outside])].assign(
                    reason_code="no_grid", reason="outside grid coverage",  # as gl.assign
                    field="lon,lat" if {"lon", "lat"} <= set(frame.columns) else frame.geometry.name)
                rejects = pd.concat([pd.DataFrame(rejects), pd.DataFrame(late)], ignore_index=True)
                done = frame.merge(res[~outside], on="case_id", how="inner")
                _write(done, out, "assigned")
                _write(_null_geometry(rejects) if out.suffix.lower() == ".gpkg" else rejects, out, "rejects")
                _report(len(done) + len(rejects), len(done), rejects)
                return
            with step("reading grids"):
                grids = _grid_editions(st, when)
            with step("reading cases and layers"):
                table = _read_cases(cases, gl.io.parse_columns(columns, x=x, y=y), when)
                n_in, log_rejects = len(table), None
                if "reported_at" in table.columns:  # a case log: validated as the nightly validates it
                    table, log_rejects = gl.cases.read_log(table)
                resp = gl.io.open_table(responsibility) if responsibility else None
                comp, zn, rd = _read_geo(components), _read_geo(zones), _read_geo(roads)
            with step(f"assigning {len(table):,} cases"):
                done, rejects = assign(table, grids, rules=rules, components=comp, zones=zn, roads=rd,
                                       responsibility=resp, when=when, near_boundary_m=near_boundary_m, crs=crs)
            if log_rejects is not None and len(log_rejects):
                rejects = pd.concat([log_rejects.astype("string"), rejects], ignore_index=True)
            with step("writing"):
                _write(done, out, "assigned")
                _write(_null_geometry(rejects) if out.suffix.lower() == ".gpkg" else rejects, out, "rejects")
            _report(n_in, len(done), rejects)
        finally:
            st.close()
