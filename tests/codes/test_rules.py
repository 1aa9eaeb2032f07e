import pandas as pd
import pytest

import gridlib as gl
from gridlib.errors import CodeError, InputError


@pytest.mark.parametrize("edition", gl.codes.EDITIONS)
def test_one_rule_per_catalogue_class(edition):
    r = gl.codes.responsibility_rules(edition)
    cat = gl.codes.catalogue(edition)
    assert len(r) == len(cat) and not r.duplicated(["class_code", "kind"]).any()
    assert set(r.rule) == {"owner_first", "territory_first"}
    assert (r[r.kind == "component"].rule == "owner_first").all()
    assert (r.basis != "").all()


def test_2026_component_matters_follow_the_component_rule():
    r = gl.codes.responsibility_rules().set_index(["class_code", "kind"]).rule
    assert r[("01001", "event")] == "owner_first"
    assert r[("06012", "event")] == "territory_first"
    assert (gl.codes.responsibility_rules("cjt214-2007").query("kind == 'event'").rule == "territory_first").all()


def test_city_overrides(tmp_path):
    path = tmp_path / "rules.csv"
    path.write_text("class_code,kind,rule\n6012,event,owner_first\n", encoding="utf-8")
    r = gl.codes.responsibility_rules(overrides=path).set_index(["class_code", "kind"])
    assert r.loc[("06012", "event"), "rule"] == "owner_first"
    assert "rules.csv row 2" in r.loc[("06012", "event"), "basis"]
    both = gl.codes.responsibility_rules(overrides=pd.DataFrame({"class_code": ["01001"], "rule": ["territory_first"]}))
    assert (both[both.class_code == "01001"].rule == "territory_first").all() and (both.class_code == "01001").sum() == 2
    with pytest.raises(CodeError, match="rule 'owner'"):
        gl.codes.responsibility_rules(overrides=pd.DataFrame({"class_code": ["06012"], "rule": ["owner"]}))
    with pytest.raises(CodeError, match="class 06099"):
        gl.codes.responsibility_rules(overrides=pd.DataFrame({"class_code": ["06099"], "rule": ["owner_first"]}))
    with pytest.raises(InputError, match="missing column 'rule'"):
        gl.codes.responsibility_rules(overrides=pd.DataFrame({"class_code": ["06012"]}))
