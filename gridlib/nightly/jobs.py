"""Parts of a night computed in forked processes: a :class:`Job` runs a function in a child that inherits the
run's data (nothing is pickled on the way in), writes its result to an unlinked temporary file and ends; the run
reads the result when it asks for it."""

from __future__ import annotations

import ctypes
import logging
import multiprocessing as mp
import os
import pickle
import signal
import tempfile
from collections.abc import Callable
from typing import IO, Any

from gridlib.nightly.forks import fork_safe
from gridlib.nightly.record import RunRecord

__all__ = ["Job", "die_with_parent", "name_process", "start_job"]

log = logging.getLogger(__name__)


def die_with_parent() -> None:
    """Ask Linux to kill this (forked) process when the run's process dies, even by ``kill -9``.

    >>> die_with_parent()   # in a forked process; elsewhere it does no harm
    """
    try:
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):  # not Linux: the process ends when its work is done
        pass


def name_process(label: str) -> None:
    """Name this (forked) process after its part of the night, as ``ps``/``top`` show it (``gl: truck compli``;
    Linux keeps 15 bytes), so an operator sees which part holds the memory or the CPU.

    >>> from gridlib.nightly.record import RunRecord
    >>> record = RunRecord(date="2026-11-21", parameters={}, store="demo.gpkg")
    >>> Job(lambda rec: open("/proc/self/comm").read().strip(), record, "trucks").result()  # Job names its process
    'gl: trucks'
    """
    try:
        ctypes.CDLL(None, use_errno=True).prctl(15, f"gl: {label}".encode()[:15], 0, 0, 0)  # PR_SET_NAME
    except (OSError, AttributeError):  # not Linux
        pass


class Job:
    """``fn(record)`` computed in a forked process; :meth:`result` waits for it and adds the steps it recorded
    to *record*. Raises :class:`OSError` when no process can be forked.

    With *after*, another job, the process starts ``fn`` only once that job's process has ended (however it
    ended): forked now, it shares the run's pages as they are now, but its work does not add to the other's memory
    at the same time. "Ended" includes any process the other forked (without exec) and left running.

    Examples
    --------
    >>> from gridlib.nightly.record import RunRecord
    >>> record = RunRecord(date="2026-11-21", parameters={}, store="demo.gpkg")
    >>> Job(lambda rec: 6 * 7, record, "answer").result()
    42
    >>> import time
    >>> first = Job(lambda rec: time.sleep(0.3) or time.monotonic(), record, "first")
    >>> second = Job(lambda rec: time.monotonic(), record, "second", after=first)
    >>> second.result() >= first.result()
    True
    """

    def __init__(self, fn: Callable[[RunRecord], Any], record: RunRecord, label: str,
                 after: Job | None = None) -> None:
        self.record, self.label, self._n = record, label, len(record.steps)
        ctx = mp.get_context("fork")
        self._recv, send = ctx.Pipe(duplex=False)
        # the write end lives in this job's process only (closed here once it is forked): a job started after
        # this one reads the other end, and reads its end of file when that process has ended
        self._ended, ended_w = os.pipe()
        wait_for = after._ended if after is not None and after._ended >= 0 else None  # -1: its result is taken
        # the result goes through an unlinked file, not the pipe: a result larger than the pipe's buffer held the
        # child, with every page it shares with this process, until the run asked for it (a city's camera coverage:
        # done after ~40 s, asked for after ~85 s, meanwhile ~0.5 GB more of its pages made private by this
        # process's own work); the child now ends when its work is done
        self._out = tempfile.TemporaryFile(prefix="gridlib-job-")

        def work() -> None:
            die_with_parent()
            name_process(label)
            self._recv.close()
            if wait_for is not None:
                while os.read(wait_for, 1):  # nothing is written: returns b"" when the other process has ended
                    pass
            try:
                out: tuple = ("ok", fn(record), record.steps[self._n:])
            except BaseException as exc:  # noqa: BLE001 - raised again in the run's process
                out = ("error", exc, None)
            try:
                try:
                    _dump(out, self._out)
                except Exception as exc:  # noqa: BLE001 - e.g. an exception that cannot be pickled
                    _dump(("error", RuntimeError(f"{label}: {exc!r} (from {out[1]!r})"), None), self._out)
                send.send("done")
            except OSError as exc:  # the file cannot be written (a full disk): the cause goes back through the pipe
                send.send(f"{label}: its result could not be written to a temporary file ({exc!r})")
            send.close()

        self._process = ctx.Process(target=work, name=f"gridlib nightly: {label}")
        try:
            self._process.start()
        except BaseException:
            self._out.close()
            os.close(self._ended)
            raise
        finally:
            os.close(ended_w)  # first: while this process holds it, a job started after this one would wait
            send.close()

    def result(self) -> Any:
        """Wait for the process; return what ``fn`` returned (or raise what it raised)."""
        try:
            if (said := self._recv.recv()) != "done":
                self._process.join()
                raise RuntimeError(f"the nightly run's {said}")
            self._out.seek(0)
            kind, value, steps = pickle.load(self._out)
        except EOFError:
            self._process.join()
            raise RuntimeError(f"the nightly run's {self.label} process ended with exit code "
                               f"{self._process.exitcode} before sending its result") from None
        finally:
            self._recv.close()
            self._out.close()
            self._close_ended()
        self._process.join()
        if kind == "error":
            raise value
        self.record.steps.extend(steps)
        return value

    def cancel(self) -> None:
        """Kill the process if it still runs."""
        if self._process.is_alive():
            self._process.kill()
        self._process.join()
        self._recv.close()
        self._out.close()
        self._close_ended()

    def _close_ended(self) -> None:
        if self._ended >= 0:
            os.close(self._ended)
            self._ended = -1


def _dump(out: tuple, file: IO[bytes]) -> None:
    """Write *out* at the start of *file* (over a partial write that failed)."""
    file.seek(0)
    file.truncate()
    pickle.dump(out, file, protocol=pickle.HIGHEST_PROTOCOL)
    file.flush()


def start_job(fn: Callable[[RunRecord], Any], record: RunRecord, label: str, after: Job | None = None) -> Job | None:
    """``fn(record)`` started in a forked process (once *after*'s process has ended, see :class:`Job`): its
    :class:`Job`, or ``None`` (logged) when another thread lives (:func:`~gridlib.nightly.forks.fork_safe`) or no
    process can be forked; the caller then computes it itself.

    >>> from gridlib.nightly.record import RunRecord
    >>> record = RunRecord(date="2026-11-21", parameters={}, store="demo.gpkg")
    >>> job = start_job(lambda rec: 6 * 7, record, "answer")
    >>> 6 * 7 if job is None else job.result()      # None while another thread of this process lives
    42
    """
    with fork_safe(f"nightly {label}") as safe:
        if not safe:
            return None
        try:
            return Job(fn, record, label, after)
        except OSError as exc:  # no memory or processes left to fork
            log.warning("nightly %s computed in the run's process: could not fork (%s)", label, exc)
            return None
