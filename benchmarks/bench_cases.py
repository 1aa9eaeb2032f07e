"""gl.cases.indicators by street and month vs the pandas apply/groupby code an analyst would write.

    python benchmarks/bench_cases.py            # 1,000,000 cases over 2026
    python benchmarks/bench_cases.py --quick    # 100,000 cases

The log is synthetic (seeded): 30 streets, 40 classes, 10 % urgent, stage delays drawn
from exponential distributions, 3 % not filed, 2 % cancelled, 1 % parked, 2 % with a
4-hour extension, 3 % reworked. Deadlines use the bundled limits (dispose 1 work day or
2 h urgent, close 2 work days or 4 h urgent) on the bundled China work calendar
(holidays and 调休 working Saturdays, 08:30-12:00 / 13:30-17:30).

The baseline is what an analyst writes in a notebook: a Python function that walks the
working days for each case's deadline (``DataFrame.apply(axis=1)``), then
``groupby([street, month]).apply`` computing the counts of each group. Both must give the
same counts (checked) before the times are compared. gridlib computes *all* its
indicators (every stage's deadline, ~40 columns); the baseline only the 13 of the
interface. Prints the ratio from one run, absolute times and peak memory, and writes one
JSON line to benchmarks/results/bench_cases.jsonl.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from datetime import timedelta
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import gridlib.cases as gc  # noqa: E402
from gridlib.cases.calendar import CALENDAR_DIR  # noqa: E402

AT = pd.Timestamp("2026-12-31 23:59")
COUNTS = ["filed", "due_disposal", "disposed", "disposed_on_time", "due_closure", "closed", "closed_on_time", "rework"]


def make_log(n: int, seed: int = 0) -> pd.DataFrame:
    """A typed case log (as gl.cases.read_log returns it) of *n* synthetic cases."""
    rng = np.random.default_rng(seed)
    start = np.datetime64("2026-01-01T00:00", "s").astype(np.int64)
    # reports mostly in the day: uniform day, time of day from a clipped normal around 13:00
    day = rng.integers(0, 365, n) * 86400
    tod = np.clip(rng.normal(13 * 3600, 4 * 3600, n), 0, 86399).astype(np.int64)
    reported = start + day + tod

    def later(base: np.ndarray, mean_s: float) -> np.ndarray:
        return base + rng.exponential(mean_s, n).astype(np.int64) + 1

    filed = later(reported, 240)
    dispatched = later(filed, 50)
    disposed = later(dispatched, 6 * 3600)
    checked = later(disposed, 2400)
    closed = later(checked, 900)
    u = rng.random((6, n))
    not_filed = u[0] < 0.03
    cancelled = (u[1] < 0.02) & ~not_filed
    undisposed = u[2] < 0.05
    unclosed = undisposed | (u[3] < 0.03)

    def ts(values: np.ndarray, missing: np.ndarray) -> pd.Series:
        out = values.astype("datetime64[s]").astype("datetime64[ns]")
        out[missing] = np.datetime64("NaT")
        return pd.Series(out)

    streets = np.array([f"310115{s:03d}" for s in range(1, 31)])
    classes = np.array([f"{b:02d}{s:03d}" for b in range(1, 9) for s in range(1, 6)])
    sources = np.array(["supervisor", "hotline_12345", "hotline_12319", "camera", "leader", "media"])
    log = pd.DataFrame({
        "case_id": pd.Series(np.char.add("k", np.arange(n).astype(str)), dtype="string"),
        "class_code": pd.Series(classes[rng.integers(0, len(classes), n)], dtype="string"),
        "kind": pd.Series(np.where(rng.random(n) < 0.4, "component", "event"), dtype="string"),
        "source": pd.Series(sources[rng.choice(len(sources), n, p=[0.6, 0.2, 0.05, 0.1, 0.03, 0.02])], dtype="string"),
        "urgency": pd.Series(np.where(u[4] < 0.1, "urgent", "normal"), dtype="string"),
        "street_code": pd.Series(streets[rng.integers(0, len(streets), n)], dtype="string"),
        "reported_at": ts(reported, np.zeros(n, bool)),
        "filed_at": ts(filed, not_filed),
        "dispatched_at": ts(dispatched, not_filed | cancelled),
        "disposed_at": ts(disposed, not_filed | cancelled | undisposed),
        "checked_at": ts(checked, not_filed | cancelled | unclosed),
        "closed_at": ts(closed, not_filed | cancelled | unclosed),
        "cancelled_at": ts(filed + 1800, ~cancelled),
        "not_filed_at": ts(reported + 600, ~not_filed),
        "rework_count": (u[5] < 0.03).astype("int64"),
        "return_count": np.zeros(n, dtype="int64"),
        "extension_hours": np.where(rng.random(n) < 0.02, 4.0, 0.0),
        "parked": rng.random(n) < 0.01,
    })
    for col in ("verified_at", "arrived_at", "video_at", "feedback_at"):
        log[col] = pd.Series(np.full(n, np.datetime64("NaT"), dtype="datetime64[ns]"))
    return log


# ------------------------------------------------------------------ the analyst's version
def analyst_kpis(log: pd.DataFrame) -> pd.DataFrame:
    cal = pd.concat([pd.read_csv(f) for f in sorted(CALENDAR_DIR.glob("*.csv"))])
    holidays = set(pd.to_datetime(cal.loc[cal["kind"] == "holiday", "date"]).dt.date)
    workdays = set(pd.to_datetime(cal.loc[cal["kind"] == "workday", "date"]).dt.date)
    hours = [(timedelta(hours=8, minutes=30), timedelta(hours=12)), (timedelta(hours=13, minutes=30), timedelta(hours=17, minutes=30))]

    def is_workday(d):
        return d in workdays or (d.weekday() < 5 and d not in holidays)

    def add_work_seconds(t, seconds):
        day = pd.Timestamp(t.date())
        while True:
            if is_workday(day.date()):
                for a, b in hours:
                    s, e = day + a, day + b
                    if t < e:
                        t0 = max(t, s)
                        avail = (e - t0).total_seconds()
                        if seconds <= avail:
                            return t0 + timedelta(seconds=seconds)
                        seconds -= avail
            day = day + timedelta(days=1)

    def deadline(row, start, work_days, urgent_hours):
        t = row[start]
        if pd.isna(t):
            return pd.NaT
        if row["urgency"] == "urgent":
            return t + timedelta(hours=urgent_hours + row["extension_hours"])
        return add_work_seconds(t, work_days * 7.5 * 3600 + row["extension_hours"] * 3600)

    df = log[log["filed_at"].notna()].copy()
    df["dispose_deadline"] = df.apply(lambda r: deadline(r, "dispatched_at", 1, 2), axis=1)
    df["close_deadline"] = df.apply(lambda r: deadline(r, "filed_at", 2, 4), axis=1)
    df["month"] = df["filed_at"].dt.to_period("M")

    def kpis(g):
        as_of = min((g.name[1] + 1).start_time, AT)
        g = g[g["filed_at"] <= as_of]
        active = ~(g["cancelled_at"] <= as_of) & ~g["parked"]
        disposed = active & (g["disposed_at"] <= as_of)
        due_disposal = disposed | (active & (g["dispose_deadline"] <= as_of))
        closed = active & (g["closed_at"] <= as_of)
        due_closure = closed | (active & (g["close_deadline"] <= as_of))
        r = {
            "filed": len(g), "due_disposal": due_disposal.sum(), "disposed": disposed.sum(),
            "disposed_on_time": (disposed & (g["disposed_at"] <= g["dispose_deadline"])).sum(),
            "due_closure": due_closure.sum(), "closed": closed.sum(),
            "closed_on_time": (closed & (g["closed_at"] <= g["close_deadline"])).sum(),
            "rework": (due_closure & (g["rework_count"] > 0)).sum(),
        }
        r["disposal_rate"] = r["disposed"] / r["due_disposal"] if r["due_disposal"] else np.nan
        r["ontime_disposal_rate"] = r["disposed_on_time"] / r["due_disposal"] if r["due_disposal"] else np.nan
        r["closure_rate"] = r["closed"] / r["due_closure"] if r["due_closure"] else np.nan
        r["ontime_closure_rate"] = r["closed_on_time"] / r["due_closure"] if r["due_closure"] else np.nan
        r["rework_rate"] = r["rework"] / r["due_closure"] if r["due_closure"] else np.nan
        return pd.Series(r)

    return df.groupby(["street_code", "month"])[list(df.columns)].apply(kpis).reset_index()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="100,000 cases instead of 1,000,000")
    parser.add_argument("-n", type=int, default=None, help="number of cases")
    args = parser.parse_args()
    n = args.n or (100_000 if args.quick else 1_000_000)
    log = make_log(n)
    cal = gc.WorkCalendar.china()
    limits = gc.load_limits()

    t0 = time.perf_counter()
    ours = gc.indicators(log, by="street_code", period="M", limits=limits, calendar=cal, at=AT)
    t_gl = time.perf_counter() - t0
    peak_gl = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    t0 = time.perf_counter()
    theirs = analyst_kpis(log)
    t_base = time.perf_counter() - t0
    peak_all = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    theirs["period"] = theirs["month"].astype(str)
    # the analyst's groupby also yields empty groups for cases filed after the extract (January 2027)
    theirs = theirs[theirs["filed"] > 0]
    merged = ours.merge(theirs, on=["street_code", "period"], suffixes=("", "_base"), how="outer", indicator=True)
    mismatch = {c: int((merged[c] != merged[f"{c}_base"]).sum()) for c in COUNTS}
    same = (merged["_merge"] == "both").all() and not any(mismatch.values())
    result = {
        "bench": "cases.indicators by street_code x month", "cases": n, "groups": len(ours),
        "gridlib_s": round(t_gl, 3), "baseline_s": round(t_base, 3), "speedup": round(t_base / t_gl, 1),
        "gridlib_peak_rss_mb": round(peak_gl), "peak_rss_mb_after_baseline": round(peak_all),
        "same_counts": bool(same), "mismatch": mismatch,
        "closure_rate_overall": round(float(ours["closed"].sum() / ours["due_closure"].sum()), 4),
    }
    print(f"{n:,} cases, {len(ours):,} street-months; counts identical: {same}")
    print(f"gridlib indicators : {t_gl:8.2f} s  (every stage deadline + ~45 columns; peak RSS {peak_gl:,.0f} MB)")
    print(f"pandas apply/groupby: {t_base:8.2f} s  (2 deadlines + 13 columns)")
    print(f"ratio              : {t_base / t_gl:8.1f} x faster")
    out = Path(__file__).parent / "results"
    out.mkdir(exist_ok=True)
    with open(out / "bench_cases.jsonl", "a") as f:
        f.write(json.dumps(result) + "\n")
    if not same:
        print(f"COUNTS DIFFER: {mismatch}")
        sys.exit(1)


if __name__ == "__main__":
    main()
