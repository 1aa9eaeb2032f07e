"""The one rejects model: conservation, first reason wins, codes only from the vocabulary."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gridlib import rejects as rj

CODES = sorted(rj.CODES)


@settings(deadline=None)  # timing on a shared 2-core machine is not what this test checks
@given(
    n=st.integers(0, 40),
    rules=st.lists(st.tuples(st.sampled_from(CODES), st.integers(0, 2**40)), max_size=6),
)
def test_conservation_and_first_reason_wins(n, rules):
    frame = pd.DataFrame({"id": [f"r{i}" for i in range(n)], "v": np.arange(n)}, index=np.arange(n) * 3 + 7)
    r = rj.Rejects(frame.index)
    expected = [None] * n
    for code, bits in rules:
        mask = np.array([(bits >> (i % 40)) & 1 == 1 for i in range(n)], dtype=bool)
        r.add(mask, code, pd.Series([f"{code} at {i}" for i in range(n)], index=frame.index), field="v")
        for i in range(n):
            if mask[i] and expected[i] is None:
                expected[i] = code
    accepted, rejects = r.split(frame)
    assert len(accepted) + len(rejects) == n
    assert sorted(accepted.index.tolist() + rejects.index.tolist()) == frame.index.tolist()
    got = dict(zip(rejects["id"], rejects["reason_code"], strict=True))
    for i in range(n):
        if expected[i] is None:
            assert f"r{i}" in set(accepted["id"])
        else:
            assert got[f"r{i}"] == expected[i]
            assert rejects.set_index("id").loc[f"r{i}", "reason"] == f"{expected[i]} at {i}"
    assert set(rejects["reason_code"]) <= set(rj.CODES)
    assert list(rejects.columns[-3:]) == list(rj.REJECT_COLUMNS)


def test_unknown_code_is_refused():
    with pytest.raises(KeyError, match="unknown reject code"):
        rj.Rejects(pd.RangeIndex(1)).add([True], "no such code")


def test_publishable_never_carries_the_value():
    r = rj.Rejects(pd.RangeIndex(2))
    frame = pd.DataFrame({"case_id": ["a", "b"], "urgency": ["13955550004", "normal"]})
    r.add(frame["urgency"] != "normal", "unknown_value", "unknown urgency '" + frame["urgency"] + "'", field="urgency")
    _, rejects = r.split(frame)
    assert "13955550004" in rejects["reason"].iloc[0]
    out = rj.publishable(rejects, "case_id")
    assert "13955550004" not in out.to_csv()
    assert out.to_dict("records") == [{"record_id": "a", "field": "urgency", "reason_code": "unknown_value",
                                       "reason": rj.CODES["unknown_value"]}]


def test_counts_and_concat():
    a = rj.Rejects(pd.RangeIndex(3))
    a.add([True, False, True], "no_grid")
    frames = [a.frame(pd.DataFrame({"id": [1, 2, 3]})), rj.empty(["id"]), None]
    both = rj.concat(frames)
    assert rj.counts(both) == {"no_grid": 2}
    assert rj.counts(rj.concat([])) == {}


# ---------------------------------------------------------------- ids that look like personal data (issue 16)

PERSONAL_IDS = ["13955550004", "+86 139-5555-0005", "11010519491231002X"]


def test_looks_personal_tells_phone_and_id_card_numbers_from_case_ids():
    assert rj.looks_personal(PERSONAL_IDS).all()
    ordinary = ["LJZ202610160050", "310115TM20261120000001", "2026112000123", "12345678901",
                "110105194912310021",  # wrong check character: not an ID-card number
                "B31010100201", "沪A12345", "", None]
    assert not rj.looks_personal(ordinary).any()


def test_readers_reject_ids_that_look_like_personal_data_and_publish_them_masked():
    """Record ids are published on purpose; a phone or ID-card number used as one was republished as it was."""
    import gridlib as gl

    ids = ["LJZ0001", *PERSONAL_IDS]
    raw = pd.DataFrame({"case_id": ids, "class_code": ["06012"] * 4, "kind": ["event"] * 4,
                        "reported_at": ["2026-11-20 09:00"] * 4, "lon": ["121.5"] * 4, "lat": ["31.24"] * 4})
    for accepted, rejects in (gl.cases.read_log(raw), gl.io.read_points(raw, id="case_id")):
        assert accepted["case_id"].tolist() == ["LJZ0001"]
        assert rejects["reason_code"].tolist() == ["personal_data_id"] * 3
        assert set(rejects["field"]) == {"case_id"}
        assert "13955550004" in rejects["reason"].iloc[0]  # the operator's reason keeps the value
        published = rj.publishable(rejects, "case_id")
        assert published["record_id"].tolist() == ["139****0004", "139****0005", "110105********002X"]
        text = published.to_csv()
        assert not any(v in text for v in ("13955550004", "5555-0005", "11010519491231002X"))


def test_with_codes_lives_with_the_rejects_model_and_the_cli_needs_no_fallback():
    """Review: CLI assign imported with_codes from the nightly pipeline, as a fallback for producers
    without codes; every producer it calls gives codes now, and with_codes belongs to gridlib.rejects."""
    import ast
    from pathlib import Path

    import gridlib.commands.assign as cli_assign
    from gridlib.nightly import pipeline

    coded = rj.with_codes(pd.DataFrame({"reason_code": ["no_grid", None], "reason": ["outside", "?"]}))
    assert coded["reason_code"].tolist() == ["no_grid", "inconsistent_record"] and "field" in coded
    assert pipeline.with_codes is rj.with_codes  # the old name keeps working
    tree = ast.parse(Path(cli_assign.__file__).read_text(encoding="utf-8"))
    imported = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
    assert not {m for m in imported if m and m.startswith("gridlib.nightly")}, imported


def test_frame_columns_equal_the_per_record_texts():
    """frame() takes the reject columns from the texts of each add(): per record, the code, field and reason
    of the add() that rejected it first (one text per add(), or one per record; missing fields)."""
    r = rj.Rejects(pd.RangeIndex(9))
    r.add(np.r_[True, np.zeros(8, bool)], "missing_id")                       # the code's description
    r.add(np.r_[True, True, np.zeros(7, bool)], "duplicate_id", "dup", field="id")   # row 0 keeps its first
    per_record = np.array([f"text {i}" for i in range(9)], dtype=object)
    r.add(np.r_[False, False, True, True, np.zeros(5, bool)], "no_grid", per_record)
    r.add(np.r_[np.zeros(6, bool), True, True, False], "unknown_code", None, field="class_code")
    rows = pd.DataFrame({"id": list("abcdefghi")})
    got = r.frame(rows)
    assert got.index.tolist() == [0, 1, 2, 3, 6, 7]
    described = rj.CODES["missing_id"], rj.CODES["unknown_code"]
    expected = {"reason_code": ["missing_id", "duplicate_id", "no_grid", "no_grid", "unknown_code", "unknown_code"],
                "field": [None, "id", None, None, "class_code", "class_code"],
                "reason": [described[0], "dup", "text 2", "text 3", described[1], described[1]]}
    for col, values in expected.items():
        pd.testing.assert_series_equal(got[col], pd.Series(pd.array(np.array(values, dtype=object), dtype="string"),
                                                           index=got.index, name=col))
    assert r.codes.tolist() == ["missing_id", "duplicate_id", "no_grid", "no_grid", None, None, "unknown_code",
                                "unknown_code", None]
    none = rj.Rejects(pd.RangeIndex(2)).frame(rows.iloc[:2])
    assert len(none) == 0 and str(none["reason"].dtype) == "string"
