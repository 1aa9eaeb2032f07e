"""demo.trucks.night with fleets smaller than the planted events need, and its argument checks."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

from gridlib.demo._area import load_area
from gridlib.demo.trucks import night
from gridlib.errors import InputError

PLANTED = {"deviation", "unpermitted_stop", "no_permit", "gps_silence"}


@pytest.fixture(scope="module")
def area():
    return load_area()


@pytest.mark.parametrize("n_trucks", range(1, 11))
def test_any_fleet_from_one_truck_runs_and_its_truth_matches_its_fixes(area, n_trucks: int) -> None:
    n = night(area, np.random.default_rng(3), date="2026-11-20", n_trucks=n_trucks)
    fx = n.fixes
    vehicles = set(fx["vehicle_id"])
    assert len(vehicles) == n_trucks
    assert fx["time"].min() >= pd.Timestamp("2026-11-20 22:00") and fx["time"].max() < pd.Timestamp("2026-11-21 06:00")
    planted = [e for e in n.events if e["type"] in PLANTED]
    # one truck per planted event, never more events than trucks
    assert len(planted) <= n_trucks
    assert len({e["vehicle_id"] for e in planted}) == len(planted)
    assert {e["vehicle_id"] for e in planted} <= vehicles
    no_permit = [e["vehicle_id"] for e in planted if e["type"] == "no_permit"]
    assert len(n.permits) == n_trucks - len(no_permit)
    assert set(n.permits["vehicle_id"]) == vehicles - set(no_permit)
    # planted kinds are handed out in turn: a deviation first, then a stop, no permit, a silence
    kinds = {e["type"] for e in planted}
    if n_trucks >= 2:
        assert "unpermitted_stop" in kinds
    if n_trucks >= 3:
        assert "no_permit" in kinds
    dup = [e for e in n.events if e["type"] == "duplicate_fix"]
    assert len(dup) == 1 and fx.duplicated(["vehicle_id", "time", "lon", "lat"]).sum() == dup[0]["count"] == 10


def test_the_default_mix_is_kept_from_nine_trucks(area) -> None:
    n = night(area, np.random.default_rng(0), date="2026-11-20", n_trucks=9)
    kinds = pd.Series([e["type"] for e in n.events]).value_counts().to_dict()
    assert kinds == {"deviation": 4, "unpermitted_stop": 3, "no_permit": 1, "gps_silence": 1, "duplicate_fix": 1}


@pytest.mark.parametrize(("kwargs", "word"), [
    ({"n_trucks": 0}, "n_trucks=0"),
    ({"n_trucks": -3}, "n_trucks=-3"),
    ({"n_construction": 0}, "n_construction=0"),
    ({"n_disposal": 0}, "n_disposal=0"),
    ({"n_deviations": -1}, "n_deviations=-1"),
    ({"n_stops": -1}, "n_stops=-1"),
    ({"noise_m": -1.0}, "noise_m=-1.0"),
    ({"noise_m": float("nan")}, "noise_m=nan"),
    ({"date": "20-11-2026"}, "date='20-11-2026'"),
])
def test_impossible_arguments_raise_a_clear_input_error(area, kwargs: dict, word: str) -> None:
    args = {"date": "2026-11-20", "n_trucks": 5, **kwargs}
    with pytest.raises(InputError, match=re.escape(word)):
        night(area, np.random.default_rng(0), **args)
