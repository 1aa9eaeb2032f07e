"""``gridlib trucks check``: muck-truck compliance for a day of GPS fixes."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from gridlib.errors import InputError


def _threshold_options(values: list[str]):
    from gridlib.trucks import Thresholds

    out = {}
    for item in values:
        key, sep, val = item.partition("=")
        if not sep or key not in Thresholds.names():
            raise InputError(f"--set {item!r}: expected NAME=VALUE with NAME one of {', '.join(sorted(Thresholds.names()))}")
        try:
            out[key] = float(val)
        except ValueError as exc:
            raise InputError(f"--set {item!r}: {val!r} is not a number") from exc
    return Thresholds.from_mapping(out)


def _write_layer(frame, path: Path, layer: str) -> None:
    """Write a layer into a GeoPackage; tables without geometry become attribute tables."""
    import geopandas as gpd
    import pyogrio

    from gridlib.io import atomic_path, write_gpkg

    if isinstance(frame, gpd.GeoDataFrame):
        write_gpkg(frame, path, layer)
        return
    with atomic_path(path, copy_existing=True) as tmp:
        pyogrio.write_dataframe(frame, tmp, layer=layer, driver="GPKG")


def register(app: typer.Typer) -> None:
    trucks = typer.Typer(help="Muck-truck (渣土车) compliance: permits, routes, stops, violations, credit points.")
    app.add_typer(trucks, name="trucks")

    @trucks.command("simulate-terminals")
    def simulate_terminals_cmd(
        host: Annotated[str, typer.Option("--host", help="JT/T 808 gateway host (gridlib serve)")] = "127.0.0.1",
        port: Annotated[int, typer.Option("--port", help="JT/T 808 gateway port")] = 7808,
        vehicles: Annotated[int, typer.Option("--vehicles", help="Simulated terminals, one TCP connection each")] = 100,
        speedup: Annotated[float, typer.Option("--speedup", help="Simulated seconds per wall second")] = 1.0,
        duration: Annotated[float, typer.Option("--duration", help="Wall seconds to drive")] = 60.0,
        start: Annotated[str, typer.Option("--start", help="Simulated local start time")] = "2026-11-20 07:00",
        interval: Annotated[int, typer.Option("--interval", help="Seconds between a vehicle's fixes")] = 10,
        batch: Annotated[int, typer.Option("--batch", help="Fixes per report; >1 sends 0x0704 batches")] = 1,
        protocol: Annotated[str, typer.Option("--protocol", help="JT/T 808 edition of the headers: 2013 or 2019")] = "2013",
        seed: Annotated[int, typer.Option("--seed", help="Seed of the simulated fleet")] = 0,
    ) -> None:
        """Drive simulate_fleet trucks as JT/T 808 terminals into a gateway: register, authenticate, report fixes."""
        import asyncio
        import logging

        from gridlib.live.terminals import TerminalFleet, fleet_fixes

        if protocol not in ("2013", "2019"):
            raise InputError(f"--protocol must be 2013 or 2019, got {protocol!r}")
        if vehicles < 1 or duration <= 0:
            raise InputError("--vehicles and --duration must be positive")
        log = logging.getLogger("gridlib")
        fixes, t0 = fleet_fixes(vehicles, start=start, span_s=duration * speedup, interval_s=interval, seed=seed)
        log.info("%s fixes of %d vehicles from %s, %g x real time for %g s", f"{len(fixes):,}", vehicles, t0,
                 speedup, duration)

        def show(stats) -> None:
            s = stats.summary()
            log.info("%5.0f s  sent %s  acked %s  (%s fixes/s)  ack p50 %s ms p99 %s ms", s["wall_s"], f"{s['sent']:,}",
                     f"{s['acked']:,}", s["fixes_per_s"], s["ack_p50_ms"], s["ack_p99_ms"])

        async def main():
            fleet = TerminalFleet(fixes, host, port, version=1 if protocol == "2019" else None, batch=batch, seed=seed)
            try:
                await fleet.connect()
                log.info("%d terminals registered and authenticated", len(fleet.terminals))
                return await fleet.drive(speedup, duration, start=t0, progress=show, progress_s=2.0)
            finally:
                await fleet.close()

        try:
            stats = asyncio.run(main())
        except (OSError, ConnectionError) as exc:
            raise InputError(f"cannot drive terminals into {host}:{port}: {exc}") from exc
        s = stats.summary()
        typer.echo(f"{s['sent']:,} fixes sent in {s['reports']:,} reports, {s['acked']:,} acknowledged, "
                   f"{s['failed']:,} refused, {s['lost']:,} reports lost; {s['fixes_per_s']} fixes/s; "
                   f"ack p50 {s['ack_p50_ms']} ms, p99 {s['ack_p99_ms']} ms, max {s['ack_max_ms']} ms")
        if s["failed"] or s["lost"]:
            raise typer.Exit(1)

    @trucks.command("check")
    def check_cmd(
        fixes: Annotated[Path, typer.Option("--fixes", help="GPS fixes: vehicle_id, time, lon, lat (Parquet/CSV/...)")],
        permits: Annotated[Path, typer.Option("--permits", help="Permits with route lines (GeoJSON/GeoPackage)")],
        out: Annotated[Path, typer.Option("--out", "-o", help="Output GeoPackage (.gpkg) or directory")],
        sites: Annotated[Path | None, typer.Option("--sites", help="Construction/disposal/parking site polygons")] = None,
        date: Annotated[str | None, typer.Option("--date", help="Check only this local day (YYYY-MM-DD)")] = None,
        roads: Annotated[Path | None, typer.Option("--roads", help="Road lines (names; speed_limit_kmh for speeding)")] = None,
        zones: Annotated[Path | None, typer.Option("--zones", help="Restricted-zone polygons (zone_id)")] = None,
        crs: Annotated[str, typer.Option(help="CRS of the fixes' lon/lat: EPSG code or 'gcj02'")] = "EPSG:4326",
        county: Annotated[str, typer.Option(help="6-digit county code for case ids")] = "310115",
        maps: Annotated[int, typer.Option(help="Also draw PNG maps for the N vehicles with most points")] = 0,
        match_roads: Annotated[bool, typer.Option(
            "--match-roads", help="Map-match each deviation to the road network (needs --roads): "
                                  "adds roads_matched, the roads it drove in order")] = False,
        set_: Annotated[list[str] | None, typer.Option("--set", help="Threshold NAME=VALUE (repeatable)")] = None,
    ) -> None:
        """Check FIXES against PERMITS and SITES; write violations, cases, credit, trips, stops and rejects."""
        import geopandas as gpd

        from gridlib.commands._common import parse_day
        from gridlib.io import open_layer, write_any
        from gridlib.progress import step
        from gridlib.trucks import check, violations_to_cases
        from gridlib.trucks.maps import vehicle_day_map

        date = parse_day(date).isoformat() if date else None
        th = _threshold_options(set_ or [])
        if match_roads and roads is None:
            raise InputError("--match-roads needs --roads")
        with step("reading layers"):
            road_layer = open_layer(roads) if roads else None
            zone_layer = open_layer(zones) if zones else None
        result = check(str(fixes), str(permits), str(sites) if sites else None, roads=road_layer, zones=zone_layer,
                       date=date, crs=crs, thresholds=th)
        if match_roads:
            from gridlib.trucks.matching import deviation_roads

            with step("map-matching deviations"):
                matched = deviation_roads(result, road_layer)
            result.violations["roads_matched"] = result.violations["violation_id"].map(
                matched.set_index("violation_id")["roads_matched"])
        cases = violations_to_cases(result.violations, county=county)
        layers = {
            "violations": result.violations, "cases": cases, "credit_vehicles": result.credit.vehicles,
            "credit_companies": result.credit.companies, "trips": result.trips, "stops": result.stops,
            "rejects": result.rejects.drop(columns=["geometry"], errors="ignore"),
        }
        with step(f"writing {out}"):
            gpkg = out.suffix.lower() == ".gpkg"
            if not gpkg:
                out.mkdir(parents=True, exist_ok=True)
            for name, frame in layers.items():
                if gpkg:
                    _write_layer(frame, out, name)
                else:
                    suffix = ".geojson" if isinstance(frame, gpd.GeoDataFrame) else ".csv"
                    write_any(frame, out / f"{name}{suffix}")
        if maps:
            map_dir = (out.parent / f"{out.stem}_maps") if gpkg else out / "maps"
            map_dir.mkdir(parents=True, exist_ok=True)
            for vid in result.credit.vehicles["vehicle_id"].head(maps):
                vehicle_day_map(result, vid, date, path=map_dir / f"{vid}.png")
        n_fix = len(result.fixes)
        typer.echo(f"{n_fix + len(result.rejects):,} fixes in, {n_fix:,} used, {len(result.rejects):,} rejected; "
                   f"{len(result.trips):,} trips, {len(result.stops):,} stops")
        if len(result.rejects):
            for text, n in result.rejects["reason"].value_counts().sort_index().items():
                typer.echo(f"  {n:>10,}  {text}")
        if len(result.permit_rejects) or len(result.site_rejects):
            typer.echo(f"{len(result.permit_rejects)} permits and {len(result.site_rejects)} sites rejected")
        typer.echo(f"{len(result.violations):,} violations:")
        for kind, n in result.counts().items():
            typer.echo(f"  {n:>10,}  {kind}")
        typer.echo(f"written to {out}")
