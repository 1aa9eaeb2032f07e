import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import gridlib as gl
from gridlib.codes.mint import MAX_SEQUENCE
from gridlib.errors import CodeError


def test_continues_after_the_highest_and_never_fills_holes():
    existing = ["41010501004000003", "41010501004000010", "41010501005000999", "31011501004000500"]
    assert gl.codes.mint_component_ids("410105", "01004", existing, 3) == [
        "41010501004000011", "41010501004000012", "41010501004000013"]
    assert gl.codes.mint_component_ids("410105", "01004", [], 1) == ["41010501004000001"]
    assert gl.codes.mint_component_ids("410105", 1004, existing, 0) == []


def test_messy_existing_ids_are_normalised_before_comparison():
    existing = pd.Series(["４１０１０５０１００４０００１２０", "41010501004-000121", 4.1010501004e16, None])
    assert gl.codes.mint_component_ids("410105", "01004", existing, 1) == ["41010501004000122"]


def test_2007_edition_and_errors():
    assert gl.codes.mint_component_ids("410105", "0102", ["4101050102000123"], 1, edition="cjt214-2007") == [
        "4101050102000124"]
    with pytest.raises(CodeError, match="county '410199'"):
        gl.codes.mint_component_ids("410199", "01004", [], 1)
    with pytest.raises(CodeError, match="unknown component class 06012"):
        gl.codes.mint_component_ids("410105", "06012", [], 1)
    with pytest.raises(CodeError, match="exhausted"):
        gl.codes.mint_component_ids("410105", "01004", [f"41010501004{MAX_SEQUENCE - 1:06d}"], 2)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(1, 5000), max_size=40), st.integers(1, 20))
def test_minted_ids_are_new_distinct_and_deterministic(seqs, n):
    existing = [f"31011503005{s:06d}" for s in seqs]
    first = gl.codes.mint_component_ids("310115", "03005", existing, n)
    assert first == gl.codes.mint_component_ids("310115", "03005", list(reversed(existing)), n)
    assert len(set(first)) == n and set(first).isdisjoint(existing)
    assert gl.codes.check_codes(pd.Series(first), kind="component").valid.all()
    top = max(seqs, default=0)
    assert int(first[0][-6:]) == top + 1
