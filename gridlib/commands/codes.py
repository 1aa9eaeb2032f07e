"""``gridlib codes``: look up, search, validate and translate codes."""

from __future__ import annotations

from pathlib import Path

import typer

from gridlib.errors import InputError

EDITION_HELP = "gbt47678-2026 (default) or cjt214-2007"


def _read_table(path: Path):  # -> pd.DataFrame
    import pandas as pd

    if not path.exists():
        raise InputError(f"{path}: no such file")
    suffix = path.suffix.lower()
    try:
        if suffix == ".parquet":
            return pd.read_parquet(path)
        # every column as text, so codes keep their leading zeros
        return pd.read_csv(path, dtype=str, keep_default_na=False, sep=None if suffix == ".txt" else ",",
                           engine="python" if suffix == ".txt" else "c")
    except (OSError, ValueError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read {path}: {exc}") from exc


def _echo_frame(df, columns: list[str]) -> None:  # df: pd.DataFrame
    if df.empty:
        typer.echo("(nothing found)")
        return
    typer.echo(df[columns].to_string(index=False))


def _show(code: str, edition: str, kind: str | None) -> None:
    import gridlib.codes as gc

    digits = code.strip()
    n = len(digits)
    if n in (4, 5):
        ed = "cjt214-2007" if n == 4 and edition == gc.DEFAULT_EDITION else edition
        cat = gc.catalogue(ed, kind)
        norm = gc.normalize_class_code(digits, ed)
        rows = cat[cat["class_code"] == norm]
        if rows.empty:
            gc.lookup(norm, ed, kind)  # raises the precise CodeError (unknown or gap)
        for _, r in rows.iterrows():
            typer.echo(f"{r['class_code']}  {r['name_zh']}  ({r['name_en']})")
            typer.echo(f"  edition {r['edition']}, kind {r['kind']}, 大类 {r['major_code']} {r['major_name_zh']}")
            typer.echo(f"  confidence {r['confidence']}, status {r['status']}")
            if r["note"]:
                typer.echo(f"  note: {r['note']}")
        return
    if n in (14, 15):
        g = gc.GridCode.parse(digits, layout="15an" if n == 15 and not digits.isdigit() else "auto")
        typer.echo(f"grid code {g.format()} (layout {g.layout})")
        typer.echo(f"  county {g.county} {gc.county_name(g.county) or ''}")
        typer.echo(f"  street {g.street} ({g.street_type_zh}, {g.street_type})  → {g.street_code}")
        typer.echo(f"  community {g.community}  → {g.community_code}")
        typer.echo(f"  grid {g.sequence}")
        return
    if n in (16, 17):
        c = gc.ComponentId.parse(digits, edition=None)
        r = gc.lookup(c.class_code, c.edition, "component")
        typer.echo(f"component id {c.format()} ({c.edition})")
        typer.echo(f"  county {c.county} {gc.county_name(c.county) or ''}")
        typer.echo(f"  class {c.class_code} {r['name_zh']} ({r['name_en']})")
        typer.echo(f"  sequence {c.sequence}")
        return
    if n == 11:
        m = gc.MatterCode.parse(digits)
        r = gc.lookup(m.class_code, m.edition, "event")
        typer.echo(f"事项 code {m.format()} ({m.edition}) — a class in an area, not an event instance")
        typer.echo(f"  county {m.county} {gc.county_name(m.county or '') or ''}")
        typer.echo(f"  class {m.class_code} {r['name_zh']} ({r['name_en']})")
        return
    raise InputError(f"{code!r}: expected a class code (4/5 digits), 事项 code (11), grid code (14/15) "
                     "or component id (16/17)")


def register(app: typer.Typer) -> None:
    codes = typer.Typer(help="Component/event classes and grid, component and 事项 codes.", no_args_is_help=True)

    @codes.command("show")
    def show(
        code: str = typer.Argument(..., help="Class code (06012), grid code, component id or 事项 code"),
        edition: str = typer.Option("gbt47678-2026", "--edition", "-e", help=EDITION_HELP),
        kind: str = typer.Option(None, "--kind", "-k", help="component or event (class codes only)"),
    ) -> None:
        """Explain one code: its class, or the parts of a grid/component/事项 code."""
        _show(code, edition, kind)

    @codes.command("search")
    def search(
        text: str = typer.Argument(..., help="Substring of the Chinese or English name, or of the code"),
        edition: str = typer.Option("gbt47678-2026", "--edition", "-e", help=EDITION_HELP + "; 'all' for both"),
        kind: str = typer.Option(None, "--kind", "-k", help="component or event"),
        extensions: Path = typer.Option(None, "--extensions", help="CSV of the city's extension classes"),
    ) -> None:
        """Find classes by name (井盖, manhole) or code part."""
        import gridlib.codes as gc

        if extensions is not None:
            gc.load_extensions(extensions, edition=gc.DEFAULT_EDITION if edition == "all" else edition)
        found = gc.search(text, None if edition == "all" else edition, kind)
        _echo_frame(found, ["edition", "kind", "class_code", "name_zh", "name_en", "status"])

    @codes.command("gaps")
    def gaps(
        edition: str = typer.Option("all", "--edition", "-e", help=EDITION_HELP + "; 'all' for both"),
    ) -> None:
        """List the codes the sources miss and the classes marked conflict, single-source or uncertain."""
        import gridlib.codes as gc

        for ed in gc.EDITIONS if edition == "all" else (edition,):
            g = gc.gaps(ed)
            codes = sorted(set(g["class_code"]))
            typer.echo(f"{ed}: {len(codes)} gap codes{': ' + ', '.join(codes) if codes else ''}")
            cat = gc.catalogue(ed)
            doubt = cat[cat["status"].isin(["conflict", "single_source", "uncertain"])]
            for _, r in doubt.iterrows():
                typer.echo(f"  {r['status']:<13} {r['kind']:<9} {r['class_code']} {r['name_zh']}: {r['note'].split('; ', 1)[-1]}")

    @codes.command("validate")
    def validate(
        file: Path = typer.Argument(..., help="CSV (read as text) or Parquet file"),
        column: str = typer.Option(..., "--column", "-c", help="Column holding the codes"),
        kind: str = typer.Option("grid", "--kind", "-k", help="grid, component, matter, event_class, class, street or community"),
        edition: str = typer.Option("gbt47678-2026", "--edition", "-e", help=EDITION_HELP + "; 'any' for both"),
        layout: str = typer.Option("auto", "--layout", help="grid layout: auto, 15, 14 or 15an"),
        report: Path = typer.Option(None, "--report", "-r", help="Where to write invalid rows (default FILE.invalid.csv)"),
        output: Path = typer.Option(None, "--output", "-o",
                                    help="Also write every row with COLUMN_normalized, valid, reason and warning columns"),
        extensions: Path = typer.Option(None, "--extensions", help="CSV of the city's extension classes"),
        streets: Path = typer.Option(None, "--streets", help="CSV of known 9-digit street codes (grid codes only)"),
        streets_column: str = typer.Option("code", "--streets-column", help="Column of --streets"),
    ) -> None:
        """Validate a column of codes; write the invalid rows with reasons; exit 1 if any."""
        import gridlib.codes as gc
        from gridlib.io import write_csv

        df = _read_table(file)
        if column not in df.columns:
            raise InputError(f"{file}: no column {column!r} (columns: {', '.join(map(str, df.columns))})")
        ed = None if edition == "any" else edition
        if extensions is not None:
            gc.load_extensions(extensions, edition=ed or gc.DEFAULT_EDITION)
        known = None
        if streets is not None:
            table = _read_table(streets)
            if streets_column not in table.columns:
                raise InputError(f"{streets}: no column {streets_column!r} (use --streets-column)")
            known = table[streets_column]
        res = gc.check_codes(df[column], kind=kind, edition=ed, layout=layout, streets=known)
        bad = ~res["valid"]
        repaired = res["valid"] & (res["warning"] != "")
        typer.echo(f"{file}: {len(df)} rows, {int(res['valid'].sum())} valid "
                   f"({int(repaired.sum())} after repair), {int(bad.sum())} invalid")
        if output is not None:
            full = df.copy()
            full[f"{column}_normalized"] = res["normalized"]
            for col in ("valid", "reason", "warning"):
                full[col] = res[col]
            write_csv(full, output)
            typer.echo(f"written: {output}")
        if bad.any():
            out = df[bad].copy()
            out.insert(0, "row", out.index + 2)  # line number in a CSV with a header
            out["reason"] = res.loc[bad, "reason"]
            path = report or file.with_name(file.stem + ".invalid.csv")
            write_csv(out, path)
            # most frequent problems, with the digits of the codes masked so alike reasons group
            kinds = out["reason"].str.replace(r"(?<!GB/T )(?<![-\d])\b\d{3,}\b(?![-\d])", "…", regex=True).value_counts()
            for reason, count in kinds.head(5).items():
                typer.echo(f"  {count:>8,} × {reason}")
            first = out.iloc[0]
            typer.echo(f"  first: line {first['row']}: {first[column]!r}: {first['reason']}")
            typer.echo(f"report: {path}")
            raise typer.Exit(1)

    @codes.command("translate")
    def translate(
        codes_: list[str] = typer.Argument(None, metavar="CODES", help="Class codes to translate"),
        from_edition: str = typer.Option("cjt214-2007", "--from", help="Edition of the input codes"),
        to_edition: str = typer.Option("gbt47678-2026", "--to", help="Edition to translate to"),
        kind: str = typer.Option("component", "--kind", "-k", help="component or event"),
        file: Path = typer.Option(None, "--file", "-f", help="Translate a column of this CSV/Parquet file"),
        column: str = typer.Option(None, "--column", "-c", help="Column of --file"),
        output: Path = typer.Option(None, "--output", "-o", help="Write the file with to_code/relation/reason columns"),
    ) -> None:
        """Translate class codes between CJ/T 214-2007 and GB/T 47678.5-2026."""
        import gridlib.codes as gc

        if file is not None:
            if column is None:
                raise InputError("--file needs --column")
            df = _read_table(file)
            if column not in df.columns:
                raise InputError(f"{file}: no column {column!r}")
            res = gc.translate(df[column], from_edition, to_edition, kind=kind)
            out = df.copy()
            for col in ("to_code", "to_name_zh", "relation", "candidates", "reason"):
                out[col] = res[col]
            counts = res["relation"].value_counts().to_dict()
            typer.echo(f"{file}: {len(df)} rows; " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())))
            if output is not None:
                from gridlib.io import write_csv

                write_csv(out, output)
                typer.echo(f"written: {output}")
            else:
                typer.echo(out.to_string(index=False))
            return
        if not codes_:
            raise InputError("give class codes, or --file and --column")
        res = gc.translate(list(codes_), from_edition, to_edition, kind=kind)
        res.insert(0, "input", list(codes_))
        _echo_frame(res, ["input", "to_code", "to_name_zh", "relation", "reason"])

    app.add_typer(codes, name="codes")
