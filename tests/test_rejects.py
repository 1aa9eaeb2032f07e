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
