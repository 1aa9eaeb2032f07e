"""``gridlib terminals``: the devices of ``gridlib serve`` — import a fleet list, list what is registered."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

_FIXES_HELP = "The live service's SQLite file of terminals and fixes (gridlib serve --fixes; default <store>.live.sqlite)."


def register(app: typer.Typer) -> None:
    terminals = typer.Typer(help="Devices of the live service: muck trucks' terminals and enforcement teams' devices.")
    app.add_typer(terminals, name="terminals")

    @terminals.command("import")
    def import_cmd(
        file: Annotated[Path, typer.Argument(help="Fleet list (CSV/XLSX): terminal, vehicle_id, kind (truck|team), gcj02")],
        fixes: Annotated[Path, typer.Option("--fixes", help=_FIXES_HELP)],
        store: Annotated[str | None, typer.Option("--store", help="The served store: team devices must name one "
                                                  "of its team_bases")] = None,
        rejects: Annotated[Path | None, typer.Option("--rejects", help="Write the rejected rows (CSV) here")] = None,
    ) -> None:
        """Register a fleet list all at once; when any row is wrong nothing is registered and the command exits 1."""
        import gridlib as gl
        from gridlib.commands._common import existing_store
        from gridlib.live.gateway import FixStore
        from gridlib.live.registry import import_terminals

        table = gl.io.open_table(file)
        team_ids = None
        if store is not None:
            opened = gl.store.open(existing_store(store))
            team_ids = (set(opened.read_layer("team_bases")["base_id"].astype(str))
                        if "team_bases" in opened.layers() else set())
        into = FixStore(fixes)
        try:
            ok, bad = import_terminals(table, into, team_ids=team_ids)
        finally:
            into.close()
        if len(bad):
            if rejects is not None:
                bad.to_csv(rejects, index=False)
            for row in bad.head(10).itertuples():
                typer.echo(f"row {row.Index + 1}: {row.reason}", err=True)
            typer.echo(f"{len(bad)} of {len(table)} rows rejected; nothing registered"
                       + (f" (rejects in {rejects})" if rejects else ""), err=True)
            raise SystemExit(1)  # not typer.Exit: gridlib.cli.main drops its code (standalone_mode=False)
        kinds = ok["kind"].value_counts()
        typer.echo(f"{len(ok)} devices registered in {fixes}: {kinds.get('truck', 0)} trucks, "
                   f"{kinds.get('team', 0)} team devices")

    @terminals.command("list")
    def list_cmd(fixes: Annotated[Path, typer.Option("--fixes", help=_FIXES_HELP)]) -> None:
        """Print the registered devices as CSV (terminal, vehicle_id, kind, gcj02, registered_at), no auth codes."""
        import pandas as pd

        from gridlib.errors import InputError
        from gridlib.live.gateway import FixStore

        if not fixes.exists():
            raise InputError(f"--fixes {fixes}: no such file")
        store = FixStore(fixes)
        try:
            rows = store.terminals()
        finally:
            store.close()
        cols = ["terminal", "vehicle_id", "kind", "gcj02", "registered_at"]
        pd.DataFrame(rows, columns=[*cols, "auth_code"])[cols].to_csv(sys.stdout, index=False)
