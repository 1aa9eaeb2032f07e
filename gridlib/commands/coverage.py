"""``gridlib coverage``: camera coverage and blind spots, camera placement, 10-minute reachability."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from gridlib.errors import InputError
from gridlib.progress import step

_OUT_HELP = "Output GeoPackage (layers are replaced, others kept)"


def _layer(path: Path | None, what: str):
    if path is None:
        return None
    from gridlib.io import read_layer

    if not Path(path).exists():
        raise InputError(f"{what} {path}: no such file")
    gdf, rejects = read_layer(path)
    if len(rejects):
        typer.echo(f"{what}: {len(rejects):,} rows skipped (first: {rejects['reason'].iloc[0]})", err=True)
    return gdf


def _cases(path: Path | None):
    if path is None:
        return None
    from gridlib.io import read_points

    if not Path(path).exists():
        raise InputError(f"cases {path}: no such file")
    points, rejects = read_points(path)
    if len(rejects):
        typer.echo(f"cases: {len(rejects):,} rows without a usable location skipped", err=True)
    return points


def _write(out: Path, layers: dict) -> None:
    import geopandas as gpd

    from gridlib.commands._common import gpkg_path
    from gridlib.io import write_gpkg

    out = gpkg_path(out)
    for name, frame in layers.items():
        if frame is None:
            continue
        if not isinstance(frame, gpd.GeoDataFrame):  # rejects: attributes only
            frame = gpd.GeoDataFrame(frame.drop(columns=[c for c in frame.columns if c == "geometry"]),
                                     geometry=gpd.GeoSeries([None] * len(frame), index=frame.index), crs=4326)
        write_gpkg(frame.to_crs(4326), out, name)
    typer.echo(f"wrote {out} ({', '.join(k for k, v in layers.items() if v is not None)})")


def register(app: typer.Typer) -> None:
    cov = typer.Typer(help="Camera coverage, blind spots, placement of new cameras, 10-minute reachability.",
                      no_args_is_help=True)
    app.add_typer(cov, name="coverage")

    @cov.command("cameras")
    def cameras_cmd(
        cameras: Annotated[Path, typer.Option("--cameras", "-c", help="Camera points (camera_id, heading, fov, range_m)")],
        roads: Annotated[Path, typer.Option("--roads", "-r", help="Road lines")],
        out: Annotated[Path, typer.Option("--out", "-o", help=_OUT_HELP)],
        buildings: Annotated[Path | None, typer.Option("--buildings", "-b", help="Building footprints (occluders)")] = None,
        grids: Annotated[Path | None, typer.Option("--grids", "-g", help="Unit grids for per-grid coverage")] = None,
        water: Annotated[Path | None, typer.Option("--water", help="Water polygons: grids more than half water "
                                                   "are reported apart, never blind")] = None,
        cases: Annotated[Path | None, typer.Option("--cases", help="Case points (lon/lat) to rank blind spots")] = None,
        hotspots: Annotated[Path | None, typer.Option("--hotspots", help="Hotspot polygons (e.g. Gi* grids) to rank "
                                                      "blind spots, instead of --cases")] = None,
        hotspot_value: Annotated[str, typer.Option(help="Value column of --hotspots")] = "z",
        camera_type: Annotated[str | None, typer.Option("--default-type", help="Type preset for cameras without "
                                                         "fov/range (e.g. dome)")] = None,
        resolution: Annotated[float, typer.Option(help="Angle between rays, degrees")] = 0.5,
        png: Annotated[Path | None, typer.Option("--png", help="Also draw the coverage map here")] = None,
        html: Annotated[Path | None, typer.Option("--html", help="Also write an interactive map here")] = None,
    ) -> None:
        """Viewsheds, road coverage (k), blind spots, priority blind spots and per-grid coverage."""
        import gridlib.coverage as gc

        cams, rejects = gc.read_cameras(cameras, defaults={"type": camera_type} if camera_type else None)
        typer.echo(f"{len(cams) + len(rejects):,} cameras in, {len(cams):,} valid, {len(rejects):,} rejected")
        rules = (rejects["reason"].astype(str).str.replace(r"(?<= )-?[0-9.]+(?= )", "…", regex=True)
                 .str.replace(r"^duplicate camera_id .*", "duplicate camera_id", regex=True))
        for reason, n in rules.value_counts().sort_index().items():
            typer.echo(f"  {n:>6,}  {reason}")
        road_layer, bld = _layer(roads, "roads"), _layer(buildings, "buildings")
        with step(f"viewsheds of {len(cams):,} cameras"):
            vs = gc.viewsheds(cams, bld, resolution=resolution)
        moved, blocked = int((vs.status == "moved").sum()), int((vs.status == "blocked").sum())
        if moved or blocked:
            typer.echo(f"{moved} cameras inside or on a footprint treated as wall-mounted, {blocked} blocked")
        with step("road coverage"):
            pieces = gc.road_coverage(vs, road_layer)
        blind = gc.blind_spots(pieces)
        if hotspots and cases:
            raise InputError("give --cases or --hotspots, not both")
        density = _layer(hotspots, "hotspots") if hotspots else _cases(cases)
        prio = gc.priority_blind_spots(blind, density, value_col=hotspot_value if hotspots else None)
        grid_cov = None
        if grids:
            with step("grid coverage"):
                grid_cov = gc.grid_coverage(vs, road_layer, _layer(grids, "grids"), bld, pieces=pieces,
                                            water=_layer(water, "water"))
        weighted = pieces[gc.road_weights(pieces) > 0]
        s = gc.coverage_summary(weighted).iloc[0]
        typer.echo(f"road seen: {s.covered_m / 1000:,.1f} of {s.length_m / 1000:,.1f} km ({s.share:.1%}); "
                   f"by >= 2 cameras {s.share_k2:.1%}; {len(blind):,} blind stretches")
        if grid_cov is not None:
            n_water = int(grid_cov["water"].sum())
            typer.echo(f"grids: {int(grid_cov.blind.sum()):,} of {len(grid_cov) - n_water:,} land grids blind "
                       f"(road share < 20 %, or open-area share where no road)"
                       + (f"; {n_water:,} water grids apart" if n_water else ""))
        _write(out, {"viewsheds": vs, "road_coverage": pieces, "blind_spots": blind, "priority_blind_spots": prio,
                     "grid_coverage": grid_cov, "camera_rejects": rejects if len(rejects) else None})
        if png:
            from gridlib.coverage.maps import coverage_map
            from gridlib.maps import save_png

            fig = coverage_map(pieces, vs, cams, priority=prio, buildings=bld, grids=grid_cov)
            typer.echo(f"wrote {save_png(fig, png)}")
        if html:
            from gridlib.coverage.maps import COVERAGE_LEGEND, coverage_layers
            from gridlib.maps import to_html

            typer.echo("wrote " + str(to_html(coverage_layers(pieces, vs, cams, prio), html, "摄像头覆盖与盲区",
                                              tooltip="{camera_id}{highway}{kind_detail} k={k} {length_m} m",
                                              legend=COVERAGE_LEGEND, attribution="© OpenStreetMap contributors")))

    @cov.command("place")
    def place_cmd(
        roads: Annotated[Path, typer.Option("--roads", "-r", help="Road lines")],
        out: Annotated[Path, typer.Option("--out", "-o", help=_OUT_HELP)],
        budget: Annotated[int, typer.Option("--budget", "-k", help="Number of new cameras")] = 20,
        cameras: Annotated[Path | None, typer.Option("--cameras", "-c", help="Existing cameras")] = None,
        buildings: Annotated[Path | None, typer.Option("--buildings", "-b", help="Building footprints")] = None,
        candidates: Annotated[Path | None, typer.Option("--candidates", help="Candidate cameras; default: junctions "
                                                        "and points every --spacing m along the roads")] = None,
        spacing: Annotated[float, typer.Option(help="Spacing of along-road candidate sites, m")] = 50.0,
        fov: Annotated[float, typer.Option(help="Field of view of generated candidates (360 = dome)")] = 360.0,
        range_m: Annotated[float, typer.Option("--range", help="Range of generated candidates, m")] = 60.0,
        exact: Annotated[bool, typer.Option("--exact", help="Optimal choice by spopt MCLP (small instances)")] = False,
        png: Annotated[Path | None, typer.Option("--png", help="Also draw the proposed cameras on the coverage map")
                       ] = None,
    ) -> None:
        """Choose new camera sites maximising newly seen, class-weighted road length."""
        import gridlib.coverage as gc

        road_layer, bld = _layer(roads, "roads"), _layer(buildings, "buildings")
        if candidates:
            cand, rej = gc.read_cameras(candidates)
            if len(rej):
                typer.echo(f"{len(rej):,} candidates rejected (first: {rej['reason'].iloc[0]})", err=True)
        else:
            cand = gc.candidate_cameras(gc.candidate_sites(road_layer, spacing_m=spacing), fov=fov, range_m=range_m)
        existing, cams = None, None
        if cameras:
            cams, rej = gc.read_cameras(cameras)
            if len(rej):
                typer.echo(f"{len(rej):,} existing cameras rejected (first: {rej['reason'].iloc[0]})", err=True)
            existing = gc.viewsheds(cams, bld)
        with step(f"viewsheds of {len(cand):,} candidates"):
            vs = gc.viewsheds(cand, bld)
        with step(f"choosing {budget} sites ({'exact' if exact else 'greedy'})"):
            chosen = gc.place(cand, vs, road_layer, budget=budget, existing=existing,
                              method="exact" if exact else "greedy")
        typer.echo(f"{len(cand):,} candidates; chose {len(chosen)} (budget {budget}), "
                   f"newly seen road {chosen.new_m.sum() / 1000:,.2f} km")
        for row in chosen.head(budget).itertuples():  # at most `budget` lines
            typer.echo(f"  {row.rank:>3}  {row.camera_id:<14} +{row.new_m:>7.0f} m  (weighted gain {row.gain:,.0f})")
        chosen_vs = vs.set_index("camera_id").loc[chosen.camera_id].reset_index()
        _write(out, {"placement": chosen, "placement_viewsheds": chosen_vs})
        if png:
            import geopandas as gpd

            from gridlib.coverage.maps import coverage_map
            from gridlib.maps import save_png

            seen = existing if existing is not None else gpd.GeoDataFrame(geometry=[], crs=vs.crs)
            fig = coverage_map(gc.road_coverage(seen, road_layer), existing, cams, buildings=bld, proposed=chosen,
                              proposed_viewsheds=chosen_vs, title="新增摄像头选址 Proposed cameras")
            typer.echo(f"wrote {save_png(fig, png)}")

    @cov.command("reach")
    def reach_cmd(
        roads: Annotated[Path, typer.Option("--roads", "-r", help="Road lines (oneway, class columns used)")],
        bases: Annotated[Path, typer.Option("--bases", "-t", help="Team bases (points, base_id)")],
        grids: Annotated[Path, typer.Option("--grids", "-g", help="Unit grids")],
        out: Annotated[Path, typer.Option("--out", "-o", help=_OUT_HELP)],
        minutes: Annotated[float, typer.Option("--minutes", "-m", help="Arrival limit")] = 10.0,
        snap: Annotated[float, typer.Option("--snap", help="Road end snap tolerance, m")] = 1.0,
        cases: Annotated[Path | None, typer.Option("--cases", help="New cases (lon/lat): nearest team for each")] = None,
        png: Annotated[Path | None, typer.Option("--png", help="Also draw the reachability map here")] = None,
        html: Annotated[Path | None, typer.Option("--html", help="Also write an interactive map here")] = None,
    ) -> None:
        """Nearest base by network time for every grid; grids beyond --minutes are response blind spots."""
        from gridlib import network

        road_layer, base_layer, grid_layer = _layer(roads, "roads"), _layer(bases, "bases"), _layer(grids, "grids")
        with step("road graph"):
            graph = network.build_graph(road_layer, snap_m=snap)
        with step(f"reachability of {len(grid_layer):,} grids"):
            reach = network.reachability(graph, base_layer, grid_layer, minutes=minutes)
            iso = network.isochrones(graph, base_layer, minutes, per_base=False)
        n_out = int((~reach.reachable).sum())
        typer.echo(f"graph: {graph.n_nodes:,} nodes, {len(graph.seg_u):,} segments; {len(reach):,} grids, "
                   f"{n_out:,} not reachable within {minutes:g} min (median {reach.time_min.median():.1f} min)")
        case_layer = None
        if cases:
            case_layer = network.nearest_base(graph, base_layer, _cases(cases))
            late = int((case_layer.time_min > minutes).sum())
            typer.echo(f"{len(case_layer):,} cases: nearest team by network time; {late:,} beyond {minutes:g} min")
        _write(out, {"reachability": reach, "isochrones": iso, "case_nearest_base": case_layer})
        if png:
            from gridlib.coverage.maps import reachability_map
            from gridlib.maps import save_png

            fig = reachability_map(reach, base_layer, roads=road_layer, isochrones=iso, minutes=minutes)
            typer.echo(f"wrote {save_png(fig, png)}")
        if html:
            from gridlib.coverage.maps import reach_legend, reachability_layers
            from gridlib.maps import to_html

            typer.echo("wrote " + str(to_html(reachability_layers(reach, base_layer, minutes=minutes), html,
                                              f"{minutes:g} 分钟到达", tooltip="{nearest_base}: {time_min} min",
                                              legend=reach_legend(minutes),
                                              attribution="© OpenStreetMap contributors")))
