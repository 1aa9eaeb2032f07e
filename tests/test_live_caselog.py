"""The live case-event log on both store kinds: what is appended is what read_event_log reads."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import gridlib as gl
from gridlib.errors import LockError
from gridlib.live.caselog import EVENT_LAYER, CaseLog, reported_row


def _exercise(store) -> None:
    log = CaseLog(store)
    rows = [reported_row({"case_id": cid, "class_code": "06012", "kind": "event", "source": "hotline_12345",
                          "lon": 121.49, "lat": 31.23, "grid_code": "310101013001087"}, "2026-11-20T09:00:00")
            for cid in ("P1", "P2")]
    log.append(rows)                                  # creates the layer
    for cid, stage, t in (("P1", "核实", "09:20"), ("P1", "filed", "09:22"), ("P2", "filed", "09:30"),
                          ("P1", "extension", "09:40")):
        body = {"stage": stage, "time": f"2026-11-20 {t}"} | ({"hours": 4} if stage == "extension" else {})
        row, problem = log.check_event(cid, body)
        assert problem is None, problem
        log.append([row])                             # appends to the existing layer
    row, problem = log.check_event("P2", {"stage": "verified", "time": "2026-11-20 09:31"})
    assert problem["reason_code"] == "time_order"     # verified after filing: read_event_log refuses the case
    assert row is None
    again = CaseLog(store)                            # a restarted service reloads the log
    assert len(again) == 2 and [e["stage"] for e in again.events["P1"]] == ["reported", "verified", "filed",
                                                                             "extension"]
    cases, rejects = gl.cases.read_event_log(store.read_layer(EVENT_LAYER), validate=True)
    assert len(rejects) == 0
    p1 = cases.set_index("case_id").loc["P1"]
    assert p1["verified_at"] == pd.Timestamp("2026-11-20 09:20") and p1["extension_hours"] == 4.0
    assert p1["source"] == "hotline_12345" and p1["grid_code"] == "310101013001087"
    assert cases["status"].tolist() == ["filed", "filed"]


def test_case_log_in_a_geopackage(tmp_path):
    store = gl.store.open(str(tmp_path / "s.gpkg"))
    _exercise(store)
    log = CaseLog(store)
    before = len(store.read_layer(EVENT_LAYER))
    row, problem = log.check_event("P2", {"stage": "dispatched", "time": "2026-11-20 09:35"})
    with store.lock("write"), pytest.raises(LockError):   # a whole-store transaction elsewhere: refused, not lost
        log.append([row])
    assert len(store.read_layer(EVENT_LAYER)) == before and len(log.events["P2"]) == 2


def test_case_log_in_postgis(pg_store):
    _exercise(pg_store)


@settings(max_examples=300, deadline=None)
@given(moment=st.datetimes(min_value=dt.datetime(1985, 1, 1), max_value=dt.datetime(2110, 12, 31)),
       sep=st.sampled_from(["T", " "]), seconds=st.booleans(),
       offset=st.one_of(st.none(), st.just("Z"), st.integers(-14 * 60, 14 * 60).map(
           lambda m: f"{'+' if m >= 0 else '-'}{abs(m) // 60:02d}:{abs(m) % 60:02d}")),
       pad=st.sampled_from(["", " "]))
def test_the_quick_iso_reading_is_parse_times_reading(moment, sep, seconds, offset, pad):
    """parse_time reads plain ISO times itself (a request's hot path); it must give what parse_times gives."""
    from gridlib.live.caselog import _iso_time
    from gridlib.times import parse_times

    text = pad + moment.strftime(f"%Y-%m-%d{sep}%H:%M" + (":%S" if seconds else "")) + (offset or "") + pad
    quick = _iso_time(text)
    times, code = parse_times(pd.Series([text], dtype="string"))
    if quick is not None:
        assert code[0] is None and quick == pd.Timestamp(times.iloc[0]), (text, quick, times.iloc[0])
    if 1993 <= moment.year <= 2097:
        assert quick is not None, text     # the forms it is for are read quickly


def test_kept_connection_survives_gdal_reads_other_processes_and_store_transactions(tmp_path):
    """The case log keeps one connection with the file in WAL mode: a GDAL read in this process (GDAL's own
    SQLite would delete the -wal file under it without the guard lock), a reader in another process, and a
    whole-store transaction that renames a new file into place lose no appended row."""
    import subprocess
    import sys

    import pyogrio

    path = tmp_path / "s.gpkg"
    store = gl.store.open(str(path))
    log = CaseLog(store)

    def add(cid: str) -> None:
        log.append([reported_row({"case_id": cid, "class_code": "06012", "kind": "event", "lon": 121.49,
                                  "lat": 31.23}, "2026-11-20T09:00:00")])

    add("A0")                                      # creates the layer (a whole-store write)
    add("A1")                                      # the kept connection: the file goes to WAL mode
    assert (tmp_path / "s.gpkg-wal").exists()
    for k in range(2, 5):                          # GDAL (pyogrio) reads in this process between appends
        assert len(pyogrio.read_dataframe(path, layer=EVENT_LAYER)) == k
        add(f"A{k}")
    assert (tmp_path / "s.gpkg-wal").exists()
    other = subprocess.run([sys.executable, "-c", "import sys, pyogrio; print(len(pyogrio.read_dataframe("
                            "sys.argv[1], layer='case_events')))", str(path)], capture_output=True, text=True)
    assert other.stdout.strip() == "5", other.stderr
    add("A5")
    layers = subprocess.run([sys.executable, "-m", "gridlib.cli", "db", "layers", str(path)], capture_output=True,
                            text=True)
    assert layers.returncode == 0 and EVENT_LAYER in layers.stdout, layers.stderr
    before = path.stat().st_ino
    store.write_layer("kpis", pd.DataFrame({"street": ["陆家嘴"], "rate": [0.93]}))   # copy + rename
    assert path.stat().st_ino != before
    assert len(store.read_layer(EVENT_LAYER)) == 6  # the copy has every committed row (checkpointed first)
    add("A6")                                      # reopens on the new file
    add("A7")
    assert len(pyogrio.read_dataframe(path, layer=EVENT_LAYER)) == 8
    log.close()
    assert sorted(CaseLog(gl.store.open(str(path))).events) == [f"A{k}" for k in range(8)]
    assert store.read_layer("kpis")["rate"].tolist() == [0.93]


def test_gdal_in_this_process_sees_the_wal_index_in_use(tmp_path):
    """GDAL's own SQLite, opening the -shm file while no lock it can see holds its "dead man switch" byte (128),
    truncates it to 3 bytes and rebuilds the WAL index; Python's SQLite's locks are invisible to it (POSIX locks
    are per process), and a thread touching the case log's mapping in that window died of SIGBUS (it crashed a
    test run of the service and the nightly in one process). The case log holds an OFD lock there: SQLite's
    F_GETLK test, made from this very process, must see it. Without that lock this test fails, and strace shows
    ftruncate(shm, 3) on every pyogrio read."""
    import fcntl
    import os
    import struct

    import pyogrio

    path = tmp_path / "s.gpkg"
    log = CaseLog(gl.store.open(str(path)))
    for cid in ("S0", "S1"):                       # the second append opens the kept WAL connection
        log.append([reported_row({"case_id": cid, "class_code": "06012", "kind": "event", "lon": 121.49,
                                  "lat": 31.23}, "2026-11-20T09:00:00")])
    fd = os.open(f"{path}-shm", os.O_RDWR)
    try:
        probe = struct.pack("hh4xqqi4x", fcntl.F_WRLCK, os.SEEK_SET, 128, 1, 0)
        kind = struct.unpack("hh4xqqi4x", fcntl.fcntl(fd, fcntl.F_GETLK, probe))[0]
        assert kind == fcntl.F_RDLCK               # SQLite then opens the index as a second user: no truncation
        size = os.fstat(fd).st_size
        assert len(pyogrio.read_dataframe(path, layer=EVENT_LAYER)) == 2
        assert os.fstat(fd).st_size == size
    finally:
        os.close(fd)
    log.close()
    assert len(CaseLog(gl.store.open(str(path)))) == 2
