"""``gridlib db``: prepare and inspect stores."""

from __future__ import annotations

import typer

from gridlib.store.base import mask_dsn


def _layer_info(store, url: str, name: str) -> tuple[int, str, str]:
    """Rows, geometry type ('none' for a table) and CRS of a store layer; from the GeoPackage's own
    metadata when it can (no rows read), else from the layer itself."""
    if str(url).lower().endswith(".gpkg"):
        import pyogrio

        try:
            info = pyogrio.read_info(url, layer=name)
        except Exception:  # a layer the store names differently: read it below
            info = None
        if info is not None and info["features"] >= 0:
            return int(info["features"]), info["geometry_type"] or "none", info["crs"] or "—"
    frame = store.read_layer(name)
    geometry = getattr(frame, "geometry", None) if "geometry" in frame.columns else None
    if geometry is None:
        return len(frame), "none", "—"
    kinds = sorted(set(geometry.geom_type.dropna()))
    crs = frame.crs.to_string() if frame.crs is not None else "—"
    return len(frame), "/".join(kinds) or "unknown", crs


def register(app: typer.Typer) -> None:
    db = typer.Typer(help="Prepare and inspect stores (PostGIS migrations, layer listing).", no_args_is_help=True)

    @db.command("init")
    def init(url: str = typer.Argument(..., help="postgresql://user@host:port/dbname")) -> None:
        """Apply the numbered SQL migrations in sql/ that the database does not have yet."""
        from gridlib.store import init_db

        applied = init_db(url)
        if applied:
            typer.echo(f"{mask_dsn(url, url)}: applied {', '.join(applied)}")
        else:
            typer.echo(f"{mask_dsn(url, url)}: already up to date")

    @db.command("layers")
    def layers(
        url: str = typer.Argument(..., help="A .gpkg path or a postgresql:// URL"),
        names_only: bool = typer.Option(False, "--names", help="Only the layer names, one a line."),
    ) -> None:
        """List the layers of a store with their row count, geometry type and CRS (like ogrinfo)."""
        from gridlib.store import open as open_store

        with open_store(url) as store:
            names = store.layers()
            if names_only:
                for name in names:
                    typer.echo(name)
                return
            rows = [(name, *_layer_info(store, url, name)) for name in names]
        width = max([len(r[0]) for r in rows] + [5])
        typer.echo(f"{'layer':<{width}}  {'rows':>10}  {'geometry':<18}  crs")
        for name, n, geometry, crs in rows:
            typer.echo(f"{name:<{width}}  {n:>10,}  {geometry:<18}  {crs}")
        typer.echo(f"{len(rows)} layer(s) in {mask_dsn(url, url)}")

    app.add_typer(db, name="db")
