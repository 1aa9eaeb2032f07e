import re

import pandas as pd
import pytest

import gridlib as gl
from gridlib.errors import CodeError, InputError

COLUMNS = ["edition", "kind", "major_code", "minor_code", "class_code", "name_zh", "name_en",
           "major_name_zh", "confidence", "note"]


@pytest.fixture(autouse=True)
def _no_extensions():
    gl.codes.clear_extensions()
    yield
    gl.codes.clear_extensions()


def test_counts_per_edition():
    new = gl.codes.catalogue()
    assert (new.kind == "component").sum() == 153
    assert (new.kind == "event").sum() == 250
    old = gl.codes.catalogue("cjt214-2007")
    assert (old.kind == "component").sum() == 85
    assert (old.kind == "event").sum() == 53
    for df in (new, old):
        assert not df.duplicated(["kind", "class_code"]).any()
        assert set(COLUMNS) <= set(df.columns)
        assert (df.class_code == df.major_code + df.minor_code).all()
        assert df.confidence.isin(["V", "I", "S", "INF"]).all()
        assert (df.name_zh != "").all() and (df.name_en != "").all()


def test_component_counts_per_major_class_match_the_standard_tables():
    comp = gl.codes.catalogue(kind="component")
    assert comp.groupby("major_code").size().to_dict() == {"01": 76, "02": 44, "03": 16, "04": 14, "05": 3}
    old = gl.codes.catalogue("cjt214-2007", kind="component")
    assert old.groupby("major_code").size().to_dict() == {"01": 38, "02": 17, "03": 11, "04": 10, "05": 3, "06": 6}


def test_2026_matters_01_to_05_mirror_the_components():
    comp = gl.codes.catalogue(kind="component").set_index("class_code")
    ev = gl.codes.catalogue(kind="event")
    mirror = ev[ev.major_code.astype(int) <= 5].set_index("class_code")
    assert list(mirror.index) == list(comp.index)
    expected = comp.name_zh + "异常"
    expected["01066"] = "紧急报警点异常SOS"  # the one irregular name in the transcription
    assert (mirror.name_zh == expected).all()
    pure = ev[ev.major_code.astype(int) > 5]
    assert pure.groupby("major_code").size().to_dict() == {"06": 51, "07": 7, "08": 16, "09": 21, "10": 2}


def test_gaps_are_recorded_not_invented():
    g = gl.codes.gaps()
    codes = set(g.class_code)
    assert codes == {"01016", "05001", "05004", "05005", "05006", "05007", "05008", "06031", "07005", "09007"}
    assert codes.isdisjoint(set(gl.codes.catalogue().class_code))
    with pytest.raises(CodeError, match="gap"):
        gl.codes.lookup("01016")
    assert gl.codes.gaps("cjt214-2007").empty


def test_2007_conflicts_and_uncertain_classes_are_marked():
    ev = gl.codes.catalogue("cjt214-2007", kind="event").set_index("class_code")
    assert set(ev.index[ev.status == "conflict"]) == {"0303", "0304", "0305"}
    assert "E2" in ev.loc["0304", "note"]
    assert set(ev.index[ev.status == "uncertain"]) == {f"01{i:02d}" for i in range(10, 19)}
    comp = gl.codes.catalogue("cjt214-2007", kind="component").set_index("class_code")
    assert comp.loc["0606", "status"] == "conflict" and "防洪墙" in comp.loc["0606", "note"]


@pytest.mark.parametrize("edition", gl.codes.EDITIONS)
def test_every_row_round_trips_through_lookup_and_validate(edition):
    cat = gl.codes.catalogue(edition)
    for kind, rows in cat.groupby("kind"):
        res = gl.codes.check_codes(rows.class_code, kind="class", edition=edition)
        assert res.valid.all() and (res.normalized == rows.class_code).all()
        as_int = gl.codes.check_codes(rows.class_code.astype(int), kind="class", edition=edition)
        assert (as_int.normalized == rows.class_code).all()
        for _, r in rows.head(40).iterrows():
            assert gl.codes.lookup(r.class_code, edition, kind).name_zh == r.name_zh


def test_lookup_restores_leading_zero_and_prefers_component():
    assert gl.codes.lookup(6012).class_code == "06012"
    assert gl.codes.lookup("01001").kind == "component"
    assert gl.codes.lookup("01001", kind="event").name_zh == "供水井盖异常"
    with pytest.raises(CodeError, match="unknown class 06099"):
        gl.codes.lookup("06099")
    with pytest.raises(CodeError, match="unknown component class 06012"):
        gl.codes.lookup("06012", kind="component")
    with pytest.raises(CodeError, match="non-digit"):
        gl.codes.lookup("06x12")
    with pytest.raises(CodeError, match="unknown edition"):
        gl.codes.catalogue("gbt30428-2013")


def test_search_chinese_english_and_code():
    hits = gl.codes.search("井盖", kind="component")
    assert len(hits) == 20 and hits.name_zh.str.contains("井盖").all()
    assert gl.codes.search("MANHOLE", edition=None, kind="component").edition.nunique() == 2
    assert gl.codes.search("0601", edition="cjt214-2007").name_zh.tolist() == ["重大危险源"]
    with pytest.raises(InputError):
        gl.codes.search("  ")


def test_extensions_register_validate_and_clear(tmp_path):
    path = tmp_path / "ext.csv"
    path.write_text("class_code,kind,name_zh,name_en\n21001,event,共享电单车乱停,e-bike parking\n06901,event,夜市油烟,\n",
                    encoding="utf-8")
    added = gl.codes.load_extensions(path)
    assert added.class_code.tolist() == ["21001", "06901"]
    assert (added.status == "extension").all()
    assert gl.codes.check_codes(pd.Series(["21001", "6901"]), kind="event_class").valid.all()
    assert gl.codes.check_codes(pd.Series(["41010521001"]), kind="matter").valid.all()
    assert len(gl.codes.catalogue(kind="event")) == 252
    assert list(gl.codes.catalogue().columns) == list(gl.codes.catalogue("cjt214-2007").columns)
    df = gl.codes.load_extensions(pd.DataFrame({"class_code": ["22001"], "kind": ["component"], "name_zh": ["岗亭"],
                                                "name_en": [float("nan")]}))
    assert df.name_en.tolist() == [""] and df.note.tolist() == ["city extension from extension table row 0"]
    gl.codes.clear_extensions()
    assert not gl.codes.check_codes(pd.Series(["21001"]), kind="event_class").valid.any()


def test_extension_clashes_name_both_rows(tmp_path):
    path = tmp_path / "ext.csv"
    path.write_text("class_code,kind,name_zh\n21001,event,甲\n21001,event,乙\n", encoding="utf-8")
    with pytest.raises(CodeError, match=r"row 3 \(21001 乙\) clashes with .*row 2 \(21001 甲\)"):
        gl.codes.load_extensions(path)
    gl.codes.load_extensions(pd.DataFrame({"class_code": ["21001"], "kind": ["event"], "name_zh": ["甲"]}))
    gl.codes.load_extensions(pd.DataFrame({"class_code": ["21001"], "kind": ["event"], "name_zh": ["甲"]}))  # idempotent
    assert (gl.codes.catalogue().class_code == "21001").sum() == 1
    with pytest.raises(CodeError, match="already registered"):
        gl.codes.load_extensions(pd.DataFrame({"class_code": ["21001"], "kind": ["event"], "name_zh": ["乙"]}))
    # 2007 standard 'other' class 0599 lies in the extension range: a clash with the standard row
    with pytest.raises(CodeError, match="clashes with standard class 0599 其他街面秩序问题"):
        gl.codes.load_extensions(pd.DataFrame({"class_code": ["0599"], "kind": ["event"], "name_zh": ["本地"]}),
                                 edition="cjt214-2007")


def test_extension_rows_outside_the_ranges_are_rejected():
    with pytest.raises(CodeError, match="not in an extension range"):
        gl.codes.load_extensions(pd.DataFrame({"class_code": ["06099"], "kind": ["event"], "name_zh": ["x"]}))
    with pytest.raises(CodeError, match="kind 'incident'"):
        gl.codes.load_extensions(pd.DataFrame({"class_code": ["21001"], "kind": ["incident"], "name_zh": ["x"]}))
    with pytest.raises(InputError, match="missing column"):
        gl.codes.load_extensions(pd.DataFrame({"class_code": ["21001"]}))


def _spec_pairs(text: str, digits: int) -> set[tuple[str, str]]:
    """(code, name) pairs of the spec's tables and lists: "| 01001 | 供水井盖 |" and "- 02001 停车场"."""
    cell = re.findall(rf"\|\s*(\d{{{digits}}})\s*\|\s*([^|]+?)\s*(?=\|)", text)
    item = re.findall(rf"^- (\d{{{digits}}}) (\S+)", text, flags=re.M)
    return {(c, n.split(" (")[0]) for c, n in cell} | set(item)  # drop notes like " (I1 only)"


def test_catalogue_is_a_faithful_transcription_of_the_spec(shared_data):
    spec = (shared_data.parent / "STANDARDS.md").read_text(encoding="utf-8")
    s26 = spec[spec.index("### 2.6"):spec.index("## 3. Coding formats")]
    pairs = _spec_pairs(s26, 5)
    cat = gl.codes.catalogue()
    listed = cat[(cat.kind == "component") | (cat.major_code.astype(int) >= 6)]
    mine = set(zip(listed.class_code, listed.name_zh, strict=True))
    assert mine == pairs, (sorted(mine - pairs)[:5], sorted(pairs - mine)[:5])
    s23 = spec[spec.index("### 2.3"):spec.index("### 2.4")]
    comp = gl.codes.catalogue("cjt214-2007", kind="component")
    mine07 = set(zip(comp.class_code, comp.name_zh, strict=True))
    assert mine07 == _spec_pairs(s23, 4)
    s24 = spec[spec.index("### 2.4"):spec.index("### 2.5")]
    ev = gl.codes.catalogue("cjt214-2007", kind="event").set_index("class_code").name_zh
    for code, name in _spec_pairs(s24, 4):
        assert ev[code] == name, code
