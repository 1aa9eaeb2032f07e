"""``gridlib db``: prepare and inspect stores."""

from __future__ import annotations

import typer

from gridlib.store.base import mask_dsn


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
    def layers(url: str = typer.Argument(..., help="A .gpkg path or a postgresql:// URL")) -> None:
        """List the layers of a store."""
        from gridlib.store import open as open_store

        with open_store(url) as store:
            for name in store.layers():
                typer.echo(name)

    app.add_typer(db, name="db")
