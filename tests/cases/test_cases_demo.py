"""The demo case log (gl.demo) through the whole cases API: nothing lost, sensible numbers."""

import json

import pandas as pd

import gridlib as gl
from gridlib.cases.schema import TIME_COLUMNS


def test_demo_log_kpis_overdue_and_fifteen(demo_dir):
    raw = pd.read_csv(demo_dir / "cases.csv", dtype=str)
    log, rejects = gl.cases.read_log(demo_dir / "cases.csv")
    assert len(log) + len(rejects) == len(raw)
    truth = pd.DataFrame(json.loads((demo_dir / "truth.json").read_text())["bad_cases"])
    # the time and id problems planted by the demo are exactly what the case reader refuses
    mine = truth[truth["problem"].isin(["unparseable_time", "duplicate_id"])]
    assert len(rejects) == len(mine)
    assert set(rejects["case_id"]) == set(mine["case_id"])

    k = gl.cases.indicators(log, by="source", period="M")
    assert k["filed"].sum() == log["filed_at"].notna().sum()  # evaluated at the latest time stamp: all filed count
    month = gl.cases.indicators(log, period="M")
    full = month[month["due_closure"] > 100]
    assert ((full["closure_rate"] > 0.8) & (full["closure_rate"] <= 1)).all()
    assert (full["ontime_closure_rate"] <= full["closure_rate"]).all()

    at = max(log[c].max() for c in TIME_COLUMNS)  # the extract: every time stamp is known
    oc = gl.cases.open_cases(log, at=at)
    assert len(oc) > 0 and set(oc["light"].dropna()) <= {"green", "yellow", "red"}
    still_open = log[(log["reported_at"] <= at) & ~log["status"].isin(["closed", "cancelled", "not_filed"])]
    assert set(oc["case_id"]) == set(still_open["case_id"])

    _, summary = gl.cases.fifteen_minute(log)
    assert summary["step"].tolist() == ["file", "dispatch", "arrive", "video", "chain"]
    assert (summary["compliance_rate"].between(0, 1)).all()
