"""The nightly run forks only while no thread but its own and the progress bars' lives: a process forked while
another thread holds a lock has it held for good and hangs when it needs it (a nightly run beside `gridlib
serve`'s intake thread hung in pyproj's after-fork clean-up). With another thread alive the run computes every
part in its own process and gives the same products; the CLI, whose progress bars each have a refresh thread,
still forks."""

from __future__ import annotations

import gc
import json
import logging
import multiprocessing as mp
import os
import pty
import select
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

import gridlib as gl
from gridlib import progress
from gridlib.nightly import NightlyOptions, load_demo_store, run_nightly
from gridlib.nightly.forks import fork_safe
from gridlib.nightly.jobs import Job
from gridlib.nightly.record import RunRecord

DATE = "2026-11-21"
pytestmark = pytest.mark.skipif("fork" not in mp.get_all_start_methods(), reason="this platform cannot fork")

#: `gridlib nightly` in a process of its own, counting its forks and the threads alive at each (os.fork spied).
_CLI_COUNTING_FORKS = """
import json, os, sys, threading
forks, fork = [], os.fork
def counted():
    forks.append(sorted(type(t).__name__ for t in threading.enumerate() if t is not threading.current_thread()))
    return fork()
os.fork = counted
from gridlib.cli import main
code = main(sys.argv[1:])
print(json.dumps({"code": code, "forks": forks}), flush=True)
"""


@pytest.fixture(scope="module")
def store_path(tmp_path_factory, demo_dir) -> Path:
    path = tmp_path_factory.mktemp("store") / "store.gpkg"
    load_demo_store(gl.store.open(path), demo_dir)
    return path


#: A child forked beside a drawn bar (as a nightly part is) where a thread writes a warning to stderr.
_CHILD_THREAD_WRITES = """
import json, os, sys, threading
from gridlib import progress
from gridlib.nightly.forks import fork_safe
progress.enable_bars(True)
with progress.step("a step"):
    read, write = os.pipe()
    with fork_safe("a child") as ok:
        pid = os.fork()
        if pid == 0:  # as a nightly part's process: it never leaves the block, and ends by os._exit
            t = threading.Thread(target=lambda: print("WARNING FROM A THREAD", file=sys.stderr, flush=True))
            t.start()
            t.join(10)
            os.write(write, b"stuck" if t.is_alive() else b"done")
            os._exit(0)
    os.close(write)
    os.waitpid(pid, 0)
    child = os.read(read, 16).decode()
print(json.dumps({"ok": ok, "child": child}), flush=True)
"""


def _cli_on_a_terminal(args: list[str], timeout: float = 600, code: str = _CLI_COUNTING_FORKS) -> tuple[dict, bytes]:
    """Run the CLI (or *code*) with stderr on a pseudo-terminal (so it draws its progress bars); return what it
    printed last on stdout (as JSON) and the terminal's bytes."""
    master, slave = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-c", code, *args], stdout=subprocess.PIPE,
                            stderr=slave, stdin=subprocess.DEVNULL)
    os.close(slave)
    screen, deadline = [], time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            if select.select([master], [], [], 1.0)[0]:
                try:
                    data = os.read(master, 65536)
                except OSError:  # every writer closed the terminal
                    break
                if not data:
                    break
                screen.append(data)
            elif proc.poll() is not None:
                break
        else:
            proc.kill()
        out = proc.communicate(timeout=60)[0]
    finally:
        os.close(master)
    return json.loads(out.decode().strip().splitlines()[-1]), b"".join(screen)


def _products(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def _steps(manifest: dict) -> list[dict]:
    return [{k: v for k, v in s.items() if k != "seconds"} for s in manifest["steps"]]


def test_a_live_thread_keeps_the_run_in_its_process_and_the_cli_still_forks(store_path, tmp_path, monkeypatch,
                                                                             caplog):
    # the CLI: its progress bars' refresh threads are alive at forks, and it forks every part
    cli, screen = _cli_on_a_terminal(["nightly", "--store", str(store_path), "--date", DATE, "--out",
                                      str(tmp_path / "cli"), "--permutations", "99"])
    assert cli["code"] == 0
    assert "━".encode() in screen  # the bars were drawn
    # trucks, coverage, indicators, emerging hot spots, the GeoPackage, and the PNG maps' two processes
    assert len(cli["forks"]) == 7, cli["forks"]
    assert ["_RefreshThread"] in cli["forks"]  # forked beside a bar's thread, and nothing else

    # here: a thread holds a lock (as PROJ's intake thread held its database mutex): no part is forked
    forks: list[int] = []
    fork = os.fork
    monkeypatch.setattr(os, "fork", lambda: forks.append(1) or fork())
    held, done = threading.Lock(), threading.Event()

    def hold() -> None:
        with held:
            done.wait()

    holder = threading.Thread(target=hold, name="holds-a-lock", daemon=True)
    holder.start()
    try:
        with caplog.at_level(logging.INFO, logger="gridlib"):
            manifest = run_nightly(gl.store.open(store_path), DATE, tmp_path / "here",
                                   options=NightlyOptions(permutations=99))
    finally:
        done.set()
        holder.join()
    assert forks == []
    not_forked = [r for r in caplog.records if "not forked" in r.getMessage()]
    assert len(not_forked) == 6 and all("holds-a-lock" in r.getMessage() for r in not_forked), not_forked
    # one warning for the run (the first part), the other parts at INFO: not six times the same warning
    assert [r.levelno for r in not_forked] == [logging.WARNING] + [logging.INFO] * 5, not_forked

    # the same products, byte for byte, and the same steps in the same order
    forked, here = _products(tmp_path / "cli" / DATE), _products(tmp_path / "here" / DATE)
    assert sorted(forked) == sorted(here)
    assert [name for name in here if forked[name] != here[name] and name != "manifest.json"] == []
    cli_manifest = json.loads(forked["manifest.json"])
    assert _steps(cli_manifest) == _steps(manifest)
    assert cli_manifest["outputs"] == manifest["outputs"]


def test_a_bars_thread_is_held_and_gone_when_its_step_ends(monkeypatch):
    monkeypatch.setattr(progress, "_BARS", True)
    with progress.step("a step"):
        with progress.bars_held() as threads:
            (thread,) = threads
            assert thread.is_alive()
    assert not thread.is_alive()  # joined: never an unknown thread when the next step forks
    with progress.bars_held() as threads:
        assert threads == frozenset()


def test_a_forked_process_draws_no_bar_over_its_parents(monkeypatch):
    monkeypatch.setattr(progress, "_BARS", True)
    read, write = os.pipe()
    with progress.step("a step"):
        pid = os.fork()
        if pid == 0:  # the child: says whether it would draw bars, and knows of no bar's thread
            with progress.bars_held() as threads:
                os.write(write, b"%d %d" % (progress.bars_enabled(), len(threads)))
            os._exit(0)
    os.close(write)
    assert os.waitpid(pid, 0)[1] == 0
    assert os.read(read, 16) == b"0 0"
    os.close(read)
    assert progress.bars_enabled()


def test_a_thread_of_a_forked_process_writes_to_stderr_beside_the_parents_bar():
    # the fork happens with the bar's lock held (bars_held) and stderr redirected through the bar: the child's
    # writes must neither wait for that lock for good nor redraw the parent's bar
    said, screen = _cli_on_a_terminal([], timeout=60, code=_CHILD_THREAD_WRITES)
    assert said == {"ok": True, "child": "done"}
    assert b"WARNING FROM A THREAD" in screen


def test_each_run_warns_once_about_the_parts_it_does_not_fork(caplog):
    from gridlib.nightly.forks import fork_safe, one_fork_warning

    gate = threading.Event()
    holder = threading.Thread(target=gate.wait, name="holds-a-lock", daemon=True)
    holder.start()
    try:
        with caplog.at_level(logging.INFO, logger="gridlib.nightly.forks"):
            for _ in range(2):                  # two runs: each its own warning (nothing kept from the first)
                with one_fork_warning() as not_forked:
                    for part in ("trucks", "coverage", "maps"):
                        with fork_safe(part) as ok:
                            assert not ok
                assert not_forked == ["trucks", "coverage", "maps"]
            with fork_safe("outside a run") as ok:  # not in a run: a warning, as ever
                assert not ok
    finally:
        gate.set()
        holder.join()
    records = [r for r in caplog.records if "not forked" in r.getMessage()]
    assert all("holds-a-lock" in r.getMessage() for r in records)
    assert [r.levelname for r in records] == ["WARNING", "INFO", "INFO"] * 2 + ["WARNING"]


def _record() -> RunRecord:
    return RunRecord(date=DATE, parameters={}, store="demo.gpkg")


def test_a_jobs_process_ends_when_its_work_is_done_not_when_its_result_is_asked():
    # a result larger than a pipe's buffer: its process once waited, sharing the run's pages, until asked for it
    big = np.arange(2_000_000)
    job = Job(lambda rec: big * 2, _record(), "a big result")
    job._process.join(timeout=120)
    assert job._process.exitcode == 0
    assert np.array_equal(job.result(), big * 2)


def test_a_jobs_error_reaches_the_run_even_when_it_cannot_be_pickled():
    def fails(rec):
        raise ValueError("no")

    with pytest.raises(ValueError, match="no"):
        Job(fails, _record(), "a failure").result()

    class Unpicklable(Exception):
        def __reduce__(self):
            raise TypeError("not this one")

    def fails_oddly(rec):
        raise Unpicklable()

    with pytest.raises(RuntimeError, match="an odd failure"):
        Job(fails_oddly, _record(), "an odd failure").result()


def test_a_job_whose_result_cannot_be_written_says_why():
    # a full disk: the child cannot write its result file, and the run is told why (not only an exit code)
    def too_big(rec):
        import resource
        import signal

        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (65_536, 65_536))
        return b"x" * 2**20

    with pytest.raises(RuntimeError, match="could not be written to a temporary file.*File too large"):
        Job(too_big, _record(), "a big result").result()


def test_a_job_that_dies_says_so():
    job = Job(lambda rec: os._exit(3), _record(), "a death")
    with pytest.raises(RuntimeError, match="exit code 3"):
        job.result()


def test_a_callers_own_freeze_is_left_frozen():
    gc.freeze()
    try:
        frozen = gc.get_freeze_count()
        with fork_safe("a test") as ok:
            assert ok
        assert gc.get_freeze_count() == frozen
    finally:
        gc.unfreeze()


def test_objects_are_frozen_only_while_a_fork_may_happen():
    assert gc.get_freeze_count() == 0
    with fork_safe("a test") as ok:
        assert ok and gc.get_freeze_count() > 0
    assert gc.get_freeze_count() == 0
