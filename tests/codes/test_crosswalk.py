import pandas as pd
import pytest

import gridlib as gl
from gridlib.errors import CodeError


def test_every_2007_class_appears_exactly_once_and_targets_exist():
    cw = gl.codes.crosswalk()
    old = gl.codes.catalogue("cjt214-2007")
    assert sorted(zip(cw.from_kind, cw.from_code, strict=True)) == sorted(zip(old.kind, old.class_code, strict=True))
    new = gl.codes.catalogue()
    known = set(zip(new.kind, new.class_code, strict=True))
    mapped = cw[cw.to_code != ""]
    assert all(k in known for k in zip(mapped.to_kind, mapped.to_code, strict=True))
    assert set(cw.relation) <= {"same", "renamed", "moved", "merged", "split", "unmapped"}
    unmapped = cw[cw.to_code == ""]
    assert (unmapped.note != "").all(), "every unmapped class says why"
    assert (cw[cw.relation == "split"].candidates.str.split().str.len() >= 2).all()


def test_every_2026_class_appears_once_backwards():
    back = gl.codes.crosswalk("gbt47678-2026", "cjt214-2007")
    new = gl.codes.catalogue()
    assert len(back) == len(new) == 403
    assert not back.duplicated(["from_kind", "from_code"]).any()
    # a 2026 事项 for a component maps to the 2007 component class
    row = back.set_index(["from_kind", "from_code"]).loc[("event", "01001")]
    assert (row.to_code, row.to_kind) == ("0101", "component")
    assert (back[back.to_code == ""].note != "").all()


def test_translate_has_no_silent_drops():
    values = pd.Series(["0101", 117, "0502", "x", None, "0606", "0601"], index=list("abcdefg"))
    t = gl.codes.translate(values, kind="component")
    assert list(t.index) == list("abcdefg")
    assert t.to_code.tolist()[0] == "01001" and t.to_code.iloc[5] == "01071"
    missing = t.to_code.isna()
    assert (t.reason[missing] != "").all() and (t.reason[~missing] == "").all()
    assert t.relation.tolist() == ["renamed", "split", "unmapped", "invalid", "invalid", "moved", "unmapped"]
    assert t.reason.iloc[3] == "invalid code: non-digit 'x' at position 1"


def test_translate_events_both_ways_and_kind_matters():
    fwd = gl.codes.translate(["0104", "0303", "0509"], kind="event")
    assert fwd.to_code.tolist()[:2] == ["06012", "08005"]
    assert "09007" in fwd.reason.iloc[2]
    back = gl.codes.translate(["06012", "01030", "03006", "09011"], "gbt47678-2026", "cjt214-2007", kind="event")
    assert back.to_code.tolist()[:2] == ["0104", "0117"]
    assert back.relation.tolist() == ["same", "merged", "ambiguous", "new"]
    assert back.candidates.iloc[2] == "0306 0307"
    comp = gl.codes.translate(["0502"], kind="component")  # 0502 人防工事, not the event 流浪乞讨
    assert comp.relation.iloc[0] == "unmapped"
    t = gl.codes.translate(["06012"], "gbt47678-2026", "cjt214-2007", kind="component")
    assert t.relation.iloc[0] == "invalid" and "not a component class" in t.reason.iloc[0]


def test_same_relation_round_trips():
    cw = gl.codes.crosswalk()
    for kind, rows in cw[cw.relation.isin(["same", "renamed", "moved"])].groupby("from_kind"):
        there = gl.codes.translate(rows.from_code, kind=kind)
        back = gl.codes.translate(there.to_code, "gbt47678-2026", "cjt214-2007", kind=kind)
        assert (back.to_code.to_numpy() == rows.from_code.to_numpy()).all()


def test_no_crosswalk_to_itself():
    with pytest.raises(CodeError):
        gl.codes.crosswalk("gbt47678-2026", "gbt47678-2026")
