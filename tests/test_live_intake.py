"""The case intake's threads: a group goes from the intake thread to the case-log thread without the event loop."""

from __future__ import annotations

import asyncio
import threading
import time

import geopandas as gpd
import pytest
from shapely import box

import gridlib as gl

pytest.importorskip("fastapi")

from gridlib.live.caselog import CaseLog  # noqa: E402
from gridlib.live.context import load_context  # noqa: E402
from gridlib.live.intake import CaseIntake  # noqa: E402


@pytest.fixture()
def intake(tmp_path):
    store = gl.store.open(str(tmp_path / "grids.gpkg"))
    parents = gpd.GeoDataFrame({"code": ["410105001003"], "name": ["demo"]},
                               geometry=[box(500000, 3850000, 500300, 3850200)], crs=4547)
    gl.grid.import_edition(gl.grid.build(parents), store, effective_date="2026-01-01")
    return CaseIntake(load_context(store, "2026-06-01"), CaseLog(store))


def _case(cid: str) -> dict:
    lon, lat = gl.crs.transform_xy(4547, 4326, [500100.0], [3850100.0])
    return {"case_id": cid, "lon": float(lon[0]), "lat": float(lat[0]), "class_code": "06012",
            "reported_at": "2026-05-01 09:00"}


def test_a_group_is_assigned_and_committed_while_the_event_loop_is_busy(intake):
    async def main():
        waiting = asyncio.ensure_future(intake.take_in([_case("K1")]))
        await asyncio.sleep(0)              # the request is queued; from here on the loop is blocked
        deadline = time.monotonic() + 10
        while "K1" not in intake.caselog and time.monotonic() < deadline:
            time.sleep(0.01)
        stored = "K1" in intake.caselog     # committed without a turn of the loop between assigning and writing
        answers, rejects = await waiting    # answered once the loop runs again
        return stored, answers, rejects

    stored, answers, rejects = asyncio.run(main())
    assert stored and not rejects and answers[0]["grid_code"] == "410105001003004"


def test_requests_queued_together_are_one_group_and_calls_run_in_the_intake_thread(intake, monkeypatch):
    groups: list[list[list[str]]] = []          # per assignment, its requests' case ids
    take_group = intake._take_group

    def spied(requests):
        groups.append([[c["case_id"] for c in r] for r in requests])
        return take_group(requests)

    monkeypatch.setattr(intake, "_take_group", spied)
    gate = threading.Event()

    async def main():
        held = asyncio.ensure_future(intake.in_worker(gate.wait, 10))
        await asyncio.sleep(0.05)               # the intake thread is held: the six requests queue behind it
        queued = asyncio.gather(*(intake.take_in([_case(f"G{k}")]) for k in range(5)),
                                intake.take_in([_case("G0")]))
        await asyncio.sleep(0.05)
        gate.set()
        await held
        return await queued, await intake.in_worker(lambda: threading.current_thread().name)

    outcomes, thread = asyncio.run(main())
    assert groups == [[["G0"], ["G1"], ["G2"], ["G3"], ["G4"], ["G0"]]]   # one group, the six requests in order
    assert [a[0]["case_id"] for a, _ in outcomes[:5]] == [f"G{k}" for k in range(5)]
    assert outcomes[5][1][0]["reason_code"] == "duplicate_id"     # the copy in the same group
    assert thread == "intake"


def test_cases_queued_before_a_call_are_assigned_before_it_runs(intake):
    gate = threading.Event()

    async def main():
        blocker = asyncio.ensure_future(intake.in_worker(gate.wait, 10))
        await asyncio.sleep(0.05)           # the intake thread is held in the gate
        case = asyncio.ensure_future(intake.take_in([_case("F1")]))
        await asyncio.sleep(0)              # queued first ...
        probe = asyncio.ensure_future(intake.in_worker(lambda: "F1" in intake._inflight or "F1" in intake.caselog))
        await asyncio.sleep(0)              # ... the call after it
        gate.set()
        await blocker
        await case
        return await probe

    assert asyncio.run(main())              # first come, first served: the case was taken when the call ran


def test_a_call_that_raises_anything_leaves_the_intake_working(intake):
    def leave():
        raise SystemExit(3)

    async def main():
        with pytest.raises(SystemExit):
            await intake.in_worker(leave)
        return await asyncio.wait_for(intake.in_worker(lambda: 42), 10)

    assert asyncio.run(main()) == 42


def test_an_intake_ends_its_threads_when_closed_or_dropped(intake):
    import gc

    dropped = CaseIntake(intake.ctx, intake.caselog)
    threads = list(dropped._threads)
    del dropped
    gc.collect()
    intake.close()
    for thread in [*threads, *intake._threads]:
        thread.join(10)
    assert [t.is_alive() for t in [*threads, *intake._threads]] == [False] * 4
    intake.close()                          # again: nothing to do
