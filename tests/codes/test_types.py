import pandas as pd
import pytest

import gridlib as gl
from gridlib.codes import ComponentId, GridCode, MatterCode
from gridlib.errors import CodeError


def test_issue_example():
    g = GridCode.parse("410105001003007")
    assert (g.county, g.street, g.community, g.sequence) == ("410105", "001", "003", "007")
    assert g.street_type == "subdistrict" and g.street_type_zh == "街道"
    assert (g.community_code, g.street_code, g.layout) == ("410105001003", "410105001", "15")
    assert str(g) == g.format() == "410105001003007"


def test_fourteen_digit_and_alphanumeric_layouts():
    g = GridCode.parse("41010500100307")
    assert (g.layout, g.sequence) == ("14", "07")
    assert GridCode.parse("41010500100300").sequence == "00"  # community-level grid (CJ/T 213)
    a = GridCode.parse("41010500100300a", layout="15an")
    assert (a.layout, a.format()) == ("15an", "41010500100300A")


@pytest.mark.parametrize(("block", "kind"), [("001", "subdistrict"), ("099", "subdistrict"), ("100", "town"),
                                             ("250", "township"), ("560", "other")])
def test_street_types(block, kind):
    assert GridCode.parse(f"410105{block}003007").street_type == kind


def test_build_fourteen_digit_layout():
    assert GridCode.build("410105001003", 7, layout="14").format() == "41010500100307"
    assert GridCode.build("410105001003", 0, layout="14").sequence == "00"


@pytest.mark.parametrize(("community", "seq", "message"), [
    ("41010500100", 1, "12 digits"),
    ("410105001003", 1000, "outside 001–999"),
    ("410105001003", 0, "outside 001–999"),
    ("410199001003", 1, "county 410199"),
    ("410105001000", 1, "community code 000"),
    ("410105700003", 1, "street code 700"),
    ("410105001003", "x", "not an integer"),
])
def test_build_checks_its_parts(community, seq, message):
    with pytest.raises(CodeError, match=message):
        GridCode.build(community, seq)


def test_build_many_is_vectorised_and_names_bad_rows():
    cc = pd.Series(["410105001003", "410105001003", "310115005012"], index=[5, 6, 7])
    out = GridCode.build_many(cc, [1, 2, 3])
    assert out.tolist() == ["410105001003001", "410105001003002", "310115005012003"]
    assert list(out.index) == [5, 6, 7]
    with pytest.raises(CodeError, match=r"row 1: '410105001000002' community code 000"):
        GridCode.build_many(pd.Series(["410105001003", "410105001000"]), [1, 2])
    with pytest.raises(CodeError, match="integers in 0–999"):
        GridCode.build_many(pd.Series(["410105001003"]), [1000])


def test_every_component_class_round_trips_as_an_identifier():
    for edition in gl.codes.EDITIONS:
        for cls in gl.codes.catalogue(edition, "component").class_code:
            c = ComponentId.build("410105", cls, 123, edition)
            assert ComponentId.parse(c.format(), edition=None) == c
            assert c.class_code == cls and c.major_code + c.minor_code == cls


def test_every_event_class_round_trips_as_a_matter_code():
    for cls in gl.codes.catalogue(kind="event").class_code:
        m = MatterCode.build("310115", cls)
        assert MatterCode.parse(m.format()) == m
    for cls in gl.codes.catalogue("cjt214-2007", "event").class_code:
        m = MatterCode.parse(cls, edition="cjt214-2007")
        assert m.county is None and m.format() == cls


def test_component_and_matter_errors():
    with pytest.raises(CodeError, match="unknown component class 06012"):
        ComponentId.parse("41010506012000001")
    with pytest.raises(CodeError, match="sequence"):
        ComponentId.build("410105", "01004", 0)
    with pytest.raises(CodeError, match="no county part"):
        MatterCode.build("410105", "0502", edition="cjt214-2007")
    with pytest.raises(CodeError, match="wrong length"):
        MatterCode.parse("410105060120")


def test_split_agrees_with_the_scalar_types():
    codes = ["410105001003007", "41010510200307", "310115405012999", "bad", None, "410105000003007"]
    p = gl.codes.split(pd.Series(codes, index=range(10, 16)))
    assert list(p.index) == list(range(10, 16))
    for code, (_, row) in zip(codes, p.iterrows(), strict=True):
        if row.valid:
            g = GridCode.parse(code)
            assert (row.county, row.street, row.community, row.sequence) == (g.county, g.street, g.community, g.sequence)
            assert (row.street_code, row.community_code, row.street_type) == (g.street_code, g.community_code, g.street_type)
        else:
            assert pd.isna(row.county) and pd.isna(row.street_type) and row.reason
    comp = gl.codes.split(["41010501004000045", "4101050102000123", "x"], kind="component", edition=None)
    assert comp.class_code.tolist()[:2] == ["01004", "0102"]
    assert comp.edition.tolist()[:2] == ["gbt47678-2026", "cjt214-2007"] and pd.isna(comp.edition.iloc[2])
    m = gl.codes.split(["41010506012"], kind="matter")
    assert (m.county.iloc[0], m.class_code.iloc[0]) == ("410105", "06012")
    with pytest.raises(CodeError):
        gl.codes.split(["0502"], kind="matter", edition="cjt214-2007")
    with pytest.raises(CodeError):
        gl.codes.split(["06012"], kind="class")
