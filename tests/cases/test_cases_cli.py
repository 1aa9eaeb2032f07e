"""``gridlib cases kpis / overdue / fifteen`` on the hand-made log."""

import pandas as pd
import pytest

from gridlib.cli import main

from .case_fixtures import flat_to_events, hand_raw


@pytest.fixture
def cases_csv(tmp_path):
    path = tmp_path / "cases.csv"
    hand_raw().to_csv(path, index=False)
    return path


def test_kpis_by_street_writes_csv_and_table(cases_csv, tmp_path, capsys):
    out = tmp_path / "kpis.csv"
    code = main(["cases", "kpis", str(cases_csv), "--by", "street", "--period", "2026-11", "--at", "2026-11-30 23:59",
                 "-o", str(out)])
    assert code == 0
    k = pd.read_csv(out, dtype={"street_code": str})
    assert k["filed"].sum() == 8 and k["due_closure"].sum() == 5 and k["closed_on_time"].sum() == 3
    text = capsys.readouterr().out
    assert "结案率" in text and "66.67 %" in text and "S1" in text


def test_kpis_from_an_event_log_and_a_period_pair(tmp_path, capsys):
    path = tmp_path / "events.csv"
    flat_to_events(hand_raw()).to_csv(path, index=False)
    code = main(["cases", "kpis", str(path), "--period", "2026-11-01/2026-12-01", "--at", "2026-11-30 23:59",
                 "-o", str(tmp_path / "k.csv")])
    assert code == 0
    k = pd.read_csv(tmp_path / "k.csv")
    assert (int(k["closed"].iloc[0]), int(k["due_closure"].iloc[0])) == (4, 5)


def test_overdue_lists_red_cases(cases_csv, tmp_path, capsys):
    out = tmp_path / "overdue.csv"
    assert main(["cases", "overdue", str(cases_csv), "--at", "2026-11-11 10:03", "-o", str(out)]) == 0
    red = pd.read_csv(out)
    assert sorted(red["case_id"]) == ["c3", "c7"] and set(red["light"]) == {"red"}
    assert "2 red" in capsys.readouterr().out


def test_bad_input_is_one_line_and_exit_2(tmp_path, capsys, cases_csv):
    assert main(["cases", "kpis", str(tmp_path / "nope.csv")]) == 2
    assert main(["cases", "kpis", str(cases_csv), "--by", "mayor"]) == 2
    err = capsys.readouterr().err
    assert "gridlib: error:" in err and "mayor" in err


def test_fifteen_command(tmp_path, capsys):
    raw = hand_raw()
    raw["arrived_at"] = (pd.to_datetime(raw["dispatched_at"]) + pd.Timedelta(minutes=9)).dt.strftime("%Y-%m-%d %H:%M")
    raw["video_at"] = (pd.to_datetime(raw["dispatched_at"]) + pd.Timedelta(minutes=13)).dt.strftime("%Y-%m-%d %H:%M")
    path = tmp_path / "cases.csv"
    raw.to_csv(path, index=False)
    assert main(["cases", "fifteen", str(path), "--by", "street", "-o", str(tmp_path / "f.csv")]) == 0
    summary = pd.read_csv(tmp_path / "f.csv")
    arrive = summary[summary["step"] == "arrive"]
    assert arrive["n"].sum() == 7 and (arrive["compliance_rate"] == 1.0).all()
    assert "Minghu" in capsys.readouterr().out
