"""``gridlib cases``: KPIs per street/community/grid/unit and the overdue list from a case log."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from gridlib.errors import InputError

#: short names accepted by --by
BY_ALIASES = {
    "street": "street_code", "community": "community_code", "grid": "grid_code", "unit": "responsible_unit",
    "class": "class_code", "source": "source", "kind": "kind", "urgency": "urgency",
}
KPI_COLUMNS = ["filed", "due_disposal", "disposed", "disposed_on_time", "due_closure", "closed", "closed_on_time",
               "rework", "disposal_rate", "ontime_disposal_rate", "closure_rate", "ontime_closure_rate", "rework_rate"]
OVERDUE_COLUMNS = ["case_id", "class_code", "street_code", "responsible_unit", "stage_zh", "stage_started_at",
                   "deadline", "used_share", "light", "overdue_hours"]


def _read(path: str, event_log: bool | None):
    import pandas as pd

    import gridlib.cases as gc
    from gridlib.io import open_table

    if not Path(path).exists():
        raise InputError(f"case log {path}: no such file")
    if event_log is None:
        head = open_table(path) if not str(path).lower().endswith(".csv") else pd.read_csv(path, nrows=0)
        event_log = "stage" in head.columns and "reported_at" not in head.columns
    return (gc.read_event_log if event_log else gc.read_log)(path)  # rejects are logged as a warning


#: columns `gridlib assign` adds to a case log
ASSIGNED_COLUMNS = ("grid_code", "community_code", "street_code", "district_code", "responsible_unit")


def _require_assigned(log, keys: list[str], path: str) -> None:
    """Grouping by street, community, grid or unit needs an assigned log: say so in one line."""
    missing = [k for k in keys if k in ASSIGNED_COLUMNS and k not in log.columns]
    if missing:
        raise InputError(f"{path}: the cases are not assigned (no {', '.join(missing)} column); "
                         "run `gridlib assign` first and give its output")


def _options(calendar: Path | None, hours: str | None, limits: Path | None):
    from gridlib.cases import WorkCalendar, load_limits
    from gridlib.cases.calendar import DEFAULT_HOURS

    cal = WorkCalendar.load(calendar, hours=hours or DEFAULT_HOURS) if calendar else WorkCalendar.china(hours or DEFAULT_HOURS)
    return cal, load_limits(limits)


def _table(frame, columns: list[str], title: str, labels: dict[str, str]) -> None:
    import numpy as np
    import pandas as pd
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title, show_lines=False)
    for c in columns:
        table.add_column(labels.get(c, c), justify="right" if pd.api.types.is_numeric_dtype(frame[c]) else "left")
    for row in frame[columns].itertuples(index=False):  # a printed table: tens of rows
        cells = []
        for c, v in zip(columns, row, strict=True):
            if v is None or (isinstance(v, float) and np.isnan(v)) or v is pd.NaT or v is pd.NA:
                cells.append("—")
            elif c == "used_share":  # long-overdue cases reach thousands of %: overdue_hours says how late
                cells.append(f"{v * 100:.1f} %" if v < 10 else "≥ 1000 %")
            elif c.endswith("_rate"):
                cells.append(f"{v * 100:.2f} %")
            elif isinstance(v, float):
                cells.append(f"{v:,.1f}")
            elif isinstance(v, pd.Timestamp):
                cells.append(f"{v:%Y-%m-%d %H:%M}")
            else:
                cells.append(f"{v:,}" if isinstance(v, int | np.integer) else str(v))
        table.add_row(*cells)
    Console(width=200).print(table)


def register(app: typer.Typer) -> None:
    cases = typer.Typer(help="Case indicators (结案率, 按期处置率 …), overdue cases, the 15-minute standard.",
                        no_args_is_help=True)

    @cases.command("kpis")
    def kpis(
        log_path: Annotated[str, typer.Argument(metavar="CASES", help="Case log: flat table or event log (CSV/Parquet/GPKG)")],
        by: Annotated[list[str] | None, typer.Option("--by", help="Group by: street, community, grid, unit, class, source "
                                                     "or any column (repeat for several)")] = None,
        period: Annotated[str | None, typer.Option("--period", help="2026-10, 2026-10-08, 2026, START/END, or a pandas "
                                                   "frequency (D, W, M) for a series")] = None,
        at: Annotated[str | None, typer.Option("--at", help="Evaluation moment (default: latest time in the log)")] = None,
        calendar: Annotated[Path | None, typer.Option("--calendar", help="Work calendar CSV file or folder")] = None,
        hours: Annotated[str | None, typer.Option("--hours", help="Working hours, e.g. 08:30-12:00,13:30-17:30")] = None,
        limits: Annotated[Path | None, typer.Option("--limits", help="Limits table CSV (stage,class_code,urgency,value,unit)")] = None,
        out: Annotated[Path | None, typer.Option("--out", "-o", help="Write every count and rate as CSV")] = None,
        event_log: Annotated[bool | None, typer.Option("--event-log/--flat", help="Input layout (default: guessed)")] = None,
    ) -> None:
        """Counts and rates per group and period; a readable table, and CSV with --out."""
        import gridlib.cases as gc
        from gridlib.io import with_names, write_csv

        log, _ = _read(log_path, event_log)
        cal, lim = _options(calendar, hours, limits)
        keys = [BY_ALIASES.get(b, b) for b in (by or [])]
        _require_assigned(log, keys, log_path)
        per: object = period
        if period and "/" in period:
            per = tuple(period.split("/", 1))
        k = gc.indicators(log, by=keys or None, period=per, limits=lim, calendar=cal, at=at)
        if out is not None:
            write_csv(with_names(k, log), out)  # street_name beside street_code, for Excel
            typer.echo(f"wrote {len(k):,} rows to {out}", err=True)
        shown = keys + (["period"] if period else []) + KPI_COLUMNS
        _table(k, shown, f"Case indicators{' ' + period if period else ''} ({len(log):,} cases)", gc.LABELS_ZH)

    @cases.command("overdue")
    def overdue_cmd(
        log_path: Annotated[str, typer.Argument(metavar="CASES", help="Case log: flat table or event log")],
        at: Annotated[str | None, typer.Option("--at", help="Moment, e.g. '2026-11-21 18:00' (default: now, China time)")] = None,
        all_open: Annotated[bool, typer.Option("--all", help="List every open case, not only the red ones")] = False,
        yellow: Annotated[bool, typer.Option("--yellow", help="Also list yellow (80–100 % used) cases")] = False,
        calendar: Annotated[Path | None, typer.Option("--calendar", help="Work calendar CSV file or folder")] = None,
        hours: Annotated[str | None, typer.Option("--hours", help="Working hours, e.g. 08:30-12:00,13:30-17:30")] = None,
        limits: Annotated[Path | None, typer.Option("--limits", help="Limits table CSV")] = None,
        out: Annotated[Path | None, typer.Option("--out", "-o", help="Write the list as CSV")] = None,
        event_log: Annotated[bool | None, typer.Option("--event-log/--flat", help="Input layout (default: guessed)")] = None,
    ) -> None:
        """Open cases at a moment with stage, time used of the limit and traffic light."""
        import gridlib.cases as gc
        from gridlib.io import write_csv

        log, _ = _read(log_path, event_log)
        cal, lim = _options(calendar, hours, limits)
        oc = gc.open_cases(log, at=at, limits=lim, calendar=cal)
        lights = ["green", "yellow", "red"] if all_open else (["yellow", "red"] if yellow else ["red"])
        shown = oc[oc["light"].isin(lights)].reset_index(drop=True)
        if out is not None:
            write_csv(shown, out)
            typer.echo(f"wrote {len(shown):,} rows to {out}", err=True)
        counts = oc["light"].value_counts()
        summary = ", ".join(f"{counts.get(c, 0):,} {c}" for c in ("red", "yellow", "green"))
        cols = [c for c in OVERDUE_COLUMNS if c in shown]
        labels = {"stage_zh": "环节", "stage_started_at": "started", "used_share": "used"}
        _table(shown.head(200), cols, f"Open cases at {at or 'now'}: {len(oc):,} ({summary})", labels)
        if len(shown) > 200:
            typer.echo(f"… {len(shown) - 200:,} more (use --out)")

    @cases.command("fifteen")
    def fifteen_cmd(
        log_path: Annotated[str, typer.Argument(metavar="CASES", help="Case log with arrived_at and video_at")],
        by: Annotated[list[str] | None, typer.Option("--by", help="Group by (street, unit, …)")] = None,
        period: Annotated[str | None, typer.Option("--period", help="Only cases reported in 2026-10, 2026-10-08, "
                                                   "2026 or START/END")] = None,
        out: Annotated[Path | None, typer.Option("--out", "-o", help="Write the per-step summary as CSV")] = None,
        event_log: Annotated[bool | None, typer.Option("--event-log/--flat", help="Input layout (default: guessed)")] = None,
    ) -> None:
        """Minghu's 15 minutes: file ≤ 5, dispatch ≤ 1, arrive ≤ 10, video ≤ 3 minutes — per step."""
        import gridlib.cases as gc
        from gridlib.io import write_csv

        log, _ = _read(log_path, event_log)
        keys = [BY_ALIASES.get(b, b) for b in (by or [])]
        _require_assigned(log, keys, log_path)
        title = "Minghu 15-minute standard"
        if period:
            from gridlib.cases.indicators import period_bounds

            bounds = period_bounds(tuple(period.split("/", 1)) if "/" in period else period)
            if bounds is None:
                raise InputError(f"--period {period!r}: give a fixed period (2026-10, 2026-10-08, 2026 or START/END)")
            start, end, label = bounds
            log = log[(log["reported_at"] >= start) & (log["reported_at"] < end)]
            title += f" {label} ({len(log):,} cases)"
        _, summary = gc.fifteen_minute(log, by=keys or None)
        if out is not None:
            write_csv(summary, out)
        _table(summary, list(summary.columns), title, {"compliance_rate": "compliance"})

    app.add_typer(cases, name="cases")

