import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import gridlib as gl
from gridlib.codes import GridCode
from gridlib.errors import CodeError

COUNTIES = ["410105", "410108", "410171", "310101", "310109", "310110", "310115", "110101"]
FULLWIDTH = str.maketrans("0123456789", "０１２３４５６７８９")


def reasons(values, **kw):
    return gl.codes.check_codes(pd.Series(values, dtype=object), **kw).reason.tolist()


def test_result_is_aligned_with_the_input_index():
    s = pd.Series(["410105001003007", "bad"], index=[10, 3])
    r = gl.codes.check_codes(s)
    assert list(r.index) == [10, 3]
    assert list(r.columns[:3]) == ["valid", "reason", "normalized"]
    assert r.valid.tolist() == [True, False]
    assert r.normalized.isna().tolist() == [False, True]


@pytest.mark.parametrize(("value", "reason"), [
    ("", "empty"),
    ("   ", "empty"),
    (None, "empty"),
    (np.nan, "empty"),
    ("41010500100300X", "non-digit 'X' at position 15"),
    ("4101O5001003007", "non-digit 'O' at position 5"),
    ("4101050010030", "wrong length 13 (expected 15 digits (6 county + 3 street + 3 community + 3 grid) or "
                      "14 digits (6 county + 3 street + 3 community + 2 grid, CJ/T 213))"),
    ("410199001003007", "county 410199 not in the GB/T 2260 list (as of 2025-12-31)"),
    ("310103001003007", "county 310103 not in the GB/T 2260 list (as of 2025-12-31)"),  # 卢湾区, merged 2011
    ("４１０１９９-００１-００３-００７", "county 410199 not in the GB/T 2260 list (as of 2025-12-31)"),  # repaired, then checked
    ("410105 000 003 007", "street code 000 where one is required"),
    ("410105000003007", "street code 000 where one is required"),
    ("410105612003007", "street code 612 outside 001–599 (001–099 街道, 100–199 镇, 200–399 乡, 400–599 other)"),
    ("410105001000007", "community code 000 where one is required"),
    ("410105001003000", "grid sequence 000 (expected 001 or above)"),
    ("4.10108E+14", "scientific notation 4.10108E+14 lost digits (only 6 of 15 digits kept, e.g. by Excel); "
                    "read the column as text"),
])
def test_grid_reasons(value, reason):
    assert reasons([value]) == [reason]


@pytest.mark.parametrize(("value", "normalized", "warning"), [
    ("４１０１０５００１００３００７", "410105001003007", "full-width or compatibility characters converted"),
    ("410105-001-003-007", "410105001003007", "spaces/dashes removed"),
    (" 410105 001 003 007 ", "410105001003007", "spaces/dashes removed"),
    ("410105001003007.0", "410105001003007", "trailing '.0' dropped (number stored as float)"),
    ("4.10105001003007e14", "410105001003007", "scientific notation expanded (all digits present)"),
    (410105001003007, "410105001003007", ""),  # a Python int in an object column
    ("41010500100300", "41010500100300", ""),  # 14-digit community grid (sequence 00)
])
def test_repairs_are_normalised_with_a_warning(value, normalized, warning):
    r = gl.codes.check_codes(pd.Series([value], dtype=object))
    assert r.valid.iloc[0], r.reason.iloc[0]
    assert r.normalized.iloc[0] == normalized
    assert r.warning.iloc[0] == warning


def test_numeric_columns_from_excel():
    ints = gl.codes.check_codes(pd.Series([410105001003007, None], dtype="Int64"))
    assert ints.valid.tolist() == [True, False] and ints.reason.iloc[1] == "empty"
    floats = gl.codes.check_codes(pd.Series([4.10105001003007e14, 4.10108e14, 4.1010501004000045e16, np.nan, -1.0]))
    assert floats.valid.tolist() == [True, False, False, False, False]
    # 4.10108e14 is exactly 410108000000000: structurally wrong, rejected on its parts
    assert floats.reason.iloc[1] == "street code 000 where one is required"
    assert floats.reason.iloc[2].startswith("number 41010501004000048 is not an exact integer")
    assert floats.reason.iloc[4] == "negative number, not a code"
    comp = gl.codes.check_codes(pd.Series([4101050102000123.0]), kind="component", edition="cjt214-2007")
    assert comp.normalized.tolist() == ["4101050102000123"]


def test_class_codes_restore_one_lost_zero_only():
    r = gl.codes.check_codes(pd.Series([6012, "6012", "0101", 101, 12, 6099, 1016]), kind="class")
    assert r.normalized.tolist()[:2] == ["06012", "06012"]
    assert r.warning.tolist()[:2] == ["leading zero restored", "leading zero restored"]
    ints = gl.codes.check_codes(pd.Series([6012]), kind="class")
    assert ints.warning.tolist() == ["read as a number; leading zero restored"]
    assert r.reason.tolist()[2:] == [
        "wrong length 4 (expected 5 digits (2 major + 3 minor class, gbt47678-2026))",
        "wrong length 3 (expected 5 digits (2 major + 3 minor class, gbt47678-2026))",
        "wrong length 2 (expected 5 digits (2 major + 3 minor class, gbt47678-2026))",
        "unknown class 06099 in gbt47678-2026",
        "class 01016 is a gap in the gbt47678-2026 table (not known)",
    ]
    old = gl.codes.check_codes(pd.Series([101, "0502", "0700"]), kind="class", edition="cjt214-2007")
    assert old.normalized.tolist()[:2] == ["0101", "0502"]
    assert old.reason.iloc[2] == "minor class 00 (expected 01 or above)"


def test_component_matter_and_event_class_kinds():
    assert reasons(["41010501004000045", "41010506012000045", "4101050102000123"], kind="component") == [
        "", "unknown component class 06012 in gbt47678-2026",
        "wrong length 16 (expected 17 digits (6 county + 5 class + 6 sequence, gbt47678-2026))"]
    assert reasons(["4101050102000123", "41010501004000045"], kind="component", edition=None) == ["", ""]
    assert reasons(["41010501004000000"], kind="component") == ["sequence 000000 (expected 000001 or above)"]
    assert reasons(["41010506012", "41010501001", "41010506031"], kind="matter") == [
        "", "", "event class 06031 is a gap in the gbt47678-2026 table (not known)"]
    assert reasons(["0502", "0606"], kind="matter", edition="cjt214-2007") == [
        "", "unknown event class 0606 in cjt214-2007"]
    assert reasons(["0606"], kind="class", edition="cjt214-2007") == [""]


def test_alphanumeric_grid_layout():
    r = gl.codes.check_codes(pd.Series(["41010500100300A", "41010500100300a", "4101050010-0300A", "4101050010030A"]),
                          layout="15an")
    assert r.valid.tolist() == [True, True, True, False]
    assert r.warning.iloc[1] == "lower-case letters upper-cased"
    assert r.reason.iloc[3].startswith("wrong length 14")
    assert reasons(["41010500100300A"], layout="15") == ["non-digit 'A' at position 15"]
    assert reasons(["4101050010030#7"], layout="15") == ["non-digit '#' at position 14"]
    with pytest.raises(CodeError, match="unknown grid layout"):
        gl.codes.check_codes(pd.Series(["1"]), layout="16")


def test_county_check_can_be_switched_off_and_bools_are_rejected():
    assert reasons(["410199001003007"], check_county=False) == [""]
    assert gl.codes.check_codes(pd.Series([True, False])).reason.tolist() == ["boolean value, not a code"] * 2
    assert len(gl.codes.check_codes(pd.Series([], dtype=object))) == 0


# --- property tests ---------------------------------------------------------------

grid_parts = st.tuples(
    st.sampled_from(COUNTIES), st.integers(1, 599), st.integers(1, 999), st.integers(1, 999))


@settings(max_examples=150, deadline=None)
@given(grid_parts)
def test_valid_grid_codes_round_trip(parts):
    county, street, community, seq = parts
    code = f"{county}{street:03d}{community:03d}{seq:03d}"
    g = GridCode.parse(code)
    assert g.format() == code and (g.county, g.sequence) == (county, f"{seq:03d}")
    assert GridCode.build(g.community_code, seq) == g
    assert GridCode.parse(code.translate(FULLWIDTH)) == g
    assert GridCode.parse("-".join([code[:6], code[6:9], code[9:12], code[12:]])) == g
    assert GridCode.parse(int(code)) == g
    assert g.street_type == gl.codes.street_type(street)


@settings(max_examples=150, deadline=None)
@given(grid_parts, st.integers(0, 14), st.sampled_from("XO#a中"))
def test_a_replaced_character_is_reported_at_its_position(parts, pos, ch):
    county, street, community, seq = parts
    code = f"{county}{street:03d}{community:03d}{seq:03d}"
    bad = code[:pos] + ch + code[pos + 1:]
    assert reasons([bad]) == [f"non-digit '{ch}' at position {pos + 1}"]


@settings(max_examples=100, deadline=None)
@given(grid_parts, st.integers(0, 14))
def test_a_dropped_digit_gives_a_14_digit_code_or_a_length_error(parts, pos):
    county, street, community, seq = parts
    code = f"{county}{street:03d}{community:03d}{seq:03d}"
    short = code[:pos] + code[pos + 1:]
    r = gl.codes.check_codes(pd.Series([short]), layout="15")
    assert r.reason.iloc[0].startswith("wrong length 14")


@settings(max_examples=100, deadline=None)
@given(st.sampled_from(COUNTIES), st.sampled_from(gl.codes.catalogue(kind="component").class_code.tolist()),
       st.integers(1, 999_999))
def test_component_ids_round_trip(county, cls, seq):
    c = gl.codes.ComponentId.build(county, cls, seq)
    assert gl.codes.ComponentId.parse(c.format()) == c
    assert c.format() == f"{county}{cls}{seq:06d}"


@settings(max_examples=60, deadline=None)
@given(st.lists(st.one_of(
    st.text(alphabet="0123456789X- ", max_size=18),
    st.integers(0, 10**17), st.none()), max_size=30))
def test_scalar_parse_agrees_with_vectorised_validate(values):
    res = gl.codes.check_codes(pd.Series(values, dtype=object))
    for v, ok, norm in zip(values, res.valid, res.normalized, strict=True):
        if ok:
            assert GridCode.parse(v).format() == norm
        else:
            with pytest.raises(CodeError):
                GridCode.parse(v)


COMPONENT_CLASSES = gl.codes.catalogue(kind="component").class_code.tolist()
ALL_2026 = set(gl.codes.catalogue().class_code) | set(gl.codes.gaps().class_code)


@settings(max_examples=100, deadline=None)
@given(st.sampled_from(COUNTIES), st.sampled_from(COMPONENT_CLASSES), st.integers(1, 999_999),
       st.integers(0, 16), st.sampled_from("AZ#/"))  # "." would read as a float suffix
def test_component_corruptions_are_rejected_with_the_right_reason(county, cls, seq, pos, ch):
    code = f"{county}{cls}{seq:06d}"
    bad = code[:pos] + ch + code[pos + 1:]
    r = gl.codes.check_codes(pd.Series([bad, code[:-1], code + "1"]), kind="component")
    assert r.reason.tolist() == [
        f"non-digit '{ch}' at position {pos + 1}",
        "wrong length 16 (expected 17 digits (6 county + 5 class + 6 sequence, gbt47678-2026))",
        "wrong length 18 (expected 17 digits (6 county + 5 class + 6 sequence, gbt47678-2026))",
    ]


@settings(max_examples=100, deadline=None)
@given(st.sampled_from(COUNTIES), st.integers(1, 99_999).map("{:05d}".format))
def test_matter_codes_with_any_class_get_a_class_verdict(county, cls):
    r = gl.codes.check_codes(pd.Series([county + cls]), kind="matter")
    events = set(gl.codes.catalogue(kind="event").class_code)
    if cls in events:
        assert r.valid.iloc[0]
    elif cls[:2] == "00":
        assert r.reason.iloc[0] == "major class code 00 where one is required"
    elif cls[2:] == "000":
        assert r.reason.iloc[0] == "minor class 000 (expected 001 or above)"
    elif cls in ALL_2026:
        assert r.reason.iloc[0] == f"event class {cls} is a gap in the gbt47678-2026 table (not known)"
    else:
        assert r.reason.iloc[0] == f"unknown event class {cls} in gbt47678-2026"


def test_street_and_community_parent_codes():
    assert reasons(["410105001", "410105000", "41010500", "410105600"], kind="street") == [
        "", "street code 000 where one is required",
        "wrong length 8 (expected 9 digits (6 county + 3 street, GB/T 10114))",
        "street code 600 outside 001–599 (001–099 街道, 100–199 镇, 200–399 乡, 400–599 other)"]
    assert reasons(["410105001003", "410105001000", "410108099003"], kind="community", streets=["410105001"]) == [
        "", "community code 000 where one is required", "street 410108099 not in the given street list"]
    with pytest.raises(CodeError, match="9-digit street code"):
        gl.codes.check_codes(["410105001"], kind="street", streets=["4101"])


def test_clean_and_repaired_rows_mixed_in_one_column():
    values = ["410105001003007", "410105-001-003-008", "41010500100307", "410199001003007", "4101 9900 1003 007",
              "41010500100300", "4101990010030"]
    r = gl.codes.check_codes(pd.Series(values * 3))
    assert r.valid.tolist() == [True, True, True, False, False, True, False] * 3
    assert r.normalized.iloc[1] == "410105001003008" and r.normalized.iloc[5] == "41010500100300"
    assert r.reason.iloc[4] == r.reason.iloc[3] == "county 410199 not in the GB/T 2260 list (as of 2025-12-31)"
