"""Invariants of gl.demo.generate that must hold for every seed (hypothesis over seeds)."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import gridlib as gl
from gridlib.demo.cases import STAGES


@settings(max_examples=3, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(min_value=0, max_value=2**31 - 1))
def test_invariants_for_any_seed(seed: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        paths = gl.demo.generate(Path(tmp), seed=seed, n_cases=300, n_trucks=9)
        truth = json.loads(paths["truth"].read_text(encoding="utf-8"))
        bad = {b["case_id"] for b in truth["bad_cases"]}
        cases = pd.read_csv(paths["cases"], dtype=str, keep_default_na=False)
        good = cases[~cases["case_id"].isin(bad)]
        assert good["case_id"].is_unique
        times = np.stack([pd.to_datetime(good[c].replace("", None)).to_numpy() for c in STAGES], axis=1)
        # stage times never run backwards (NaT = not reached) and stop at the first missing stage
        for a in range(times.shape[1] - 1):
            both = ~np.isnat(times[:, a]) & ~np.isnat(times[:, a + 1])
            assert (times[both, a] <= times[both, a + 1]).all()
        reached = ~np.isnat(times[:, 2:])  # from filed_at on, stages are consecutive
        assert (reached[:, 1:] <= reached[:, :-1]).all()
        comps = gpd.read_file(paths["components"])
        assert comps["component_id"].is_unique and comps["component_id"].str.fullmatch(r"\d{17}").all()
        assert good.loc[good["kind"] == "component", "component_id"].isin(comps["component_id"]).all()
        fixes = pd.read_parquet(paths["fixes"])
        permits = gpd.read_file(paths["permits"])
        sites = gpd.read_file(paths["sites"]).set_index("site_id")
        assert permits["origin_site"].isin(sites.index).all() and permits["destination_site"].isin(sites.index).all()
        for event in truth["truck_events"]:
            if event["type"] == "duplicate_fix":
                continue
            assert event["start"] <= event["end"] and event["vehicle_id"] in set(fixes["vehicle_id"])
            assert (event["type"] == "no_permit") == (event["vehicle_id"] not in set(permits["vehicle_id"]))
