import pandas as pd
import pytest

import gridlib as gl


def test_provinces_and_bundled_counties():
    prov = gl.codes.divisions("province")
    assert len(prov) == 34 and prov.code.str.endswith("0000").all()
    for code, name in [("310101", "黄浦区"), ("310109", "虹口区"), ("310110", "杨浦区"), ("310115", "浦东新区"),
                       ("410105", "金水区"), ("410171", "郑州经济技术开发区")]:
        assert gl.codes.county_name(code) == name
    assert gl.codes.county_name("410100") is None  # a prefecture, not a county
    counties = gl.codes.divisions("county")
    assert len(counties) > 2800 and not counties.code.duplicated().any()


def test_every_zhengzhou_county_and_township_parent_is_listed(shared_data):
    folder = shared_data / "a_admin_boundaries"
    counties = pd.read_csv(folder / "zhengzhou_county_codes_2023.csv", dtype=str)
    towns = pd.read_csv(folder / "zhengzhou_township_codes_2023.csv", dtype=str)
    r = gl.codes.check_codes(counties.county_code + "001001001")
    assert r.valid.all(), r.reason[~r.valid].tolist()
    grids = gl.codes.check_codes(towns.township_code + "001001")
    assert grids.valid.all(), grids.reason[~grids.valid].tolist()
    checked = gl.codes.check_codes(pd.Series(["410108001003007", "410108099003007"]), streets=towns.township_code)
    assert checked.reason.tolist() == ["", "street 410108099 not in the given street list"]


def test_unknown_level():
    with pytest.raises(ValueError):
        gl.codes.divisions("village")
