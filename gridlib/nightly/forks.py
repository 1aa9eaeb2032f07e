"""When the nightly run may fork: only while no thread of the process but its own and the progress bars' lives.

A process forked while another thread holds a lock (PROJ's database mutex, an I/O buffer's, any library's) has
the lock held for good, by a thread it does not have, and hangs when it needs it (seen: a nightly run beside
``gridlib serve``'s intake thread in one process hung in pyproj's after-fork clean-up). The run therefore forks
only when every other live thread is one it knows: the progress bars' refresh threads, held still around the fork
(:func:`gridlib.progress.bars_held`); otherwise the part runs in the run's own process (the same products).
Within one run (:func:`one_fork_warning`) only the first part not forked is a warning; the others are logged at
INFO (in Jupyter, whose kernel has threads of its own, every part of every run is computed in its process).
"""

from __future__ import annotations

import ctypes
import gc
import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

import pyarrow as pa

from gridlib.progress import bars_held

__all__ = ["fork_safe", "one_fork_warning", "release_free_memory"]

log = logging.getLogger(__name__)

# the current run's warnings about parts not forked (one_fork_warning): per run, and per thread (each thread has
# its own context), so neither a later run nor a run beside it in another thread loses its warning
_RUN_WARNED: ContextVar[list[str] | None] = ContextVar("gridlib_fork_warned", default=None)


@contextmanager
def one_fork_warning() -> Iterator[list[str]]:
    """The body is one run: of its parts :func:`fork_safe` does not fork, only the first is logged as a WARNING,
    the others at INFO (each naming the threads); gives the list of those parts (filled as the body runs). Outside
    such a body every one is a warning.

    >>> levels, handler = [], logging.Handler(logging.INFO)
    >>> handler.emit = lambda record: levels.append(record.levelname)
    >>> log.addHandler(handler); log.setLevel(logging.INFO)
    >>> gate, holder = threading.Event(), threading.Thread(target=lambda: gate.wait(), name="holder")
    >>> holder.start()
    >>> with one_fork_warning() as not_forked:
    ...     for part in ("a part", "another part"):
    ...         with fork_safe(part) as ok:
    ...             pass
    >>> gate.set(); holder.join(); log.removeHandler(handler); log.setLevel(logging.NOTSET)
    >>> not_forked, levels
    (['a part', 'another part'], ['WARNING', 'INFO'])
    """
    token = _RUN_WARNED.set([])
    try:
        yield _RUN_WARNED.get()
    finally:
        _RUN_WARNED.reset(token)


def release_free_memory() -> None:
    """Give the memory freed so far back to the system: the heap's free pages (glibc's ``malloc_trim``; elsewhere
    nothing) and the pages Arrow's memory pool keeps for reuse.

    A forked process shares every page of this one, the free ones too; when this process allocates in one again it
    writes a copy, and the child is left the sole holder of the old page (a city night: 90-210 MB of free heap at
    each fork, given back in ~0.03 s). Arrow's pool (mimalloc) keeps what it freed: after ``gl.assign`` on a
    city's 299k cases, ~270 MB. A forked process that works in parts gives back what each part freed, or the next
    part's allocations grow it further (a city's PNG map processes: ~460 MB private each after 22 maps, ~150 MB
    given back after each map).

    >>> release_free_memory()
    """
    try:
        ctypes.CDLL(None).malloc_trim(0)
    except (OSError, AttributeError):  # not glibc
        pass
    pa.default_memory_pool().release_unused()


@contextmanager
def fork_safe(what: str) -> Iterator[bool]:
    """Whether *what* may be forked in the body: True while no other thread lives but the progress bars' (held
    still until the body ends); False, logged with the threads' names, otherwise. Fork inside the body. When True,
    the memory freed so far is given back first (:func:`release_free_memory`) and the live objects are kept from
    the cyclic collector (``gc.freeze``) until the body ends, so that a child shares, and keeps shared, as many
    pages as it can.

    >>> gate, holder = threading.Event(), threading.Thread(target=lambda: gate.wait(), name="holder")
    >>> holder.start()
    >>> with fork_safe("an example") as ok:
    ...     ok
    False
    >>> gate.set(); holder.join()
    """
    with bars_held() as bars:
        me = threading.current_thread()
        others = sorted(t.name for t in threading.enumerate() if t is not me and t not in bars)
        if others:
            warned = _RUN_WARNED.get()
            log.log(logging.INFO if warned else logging.WARNING,
                    "%s computed in this process, not forked: %d other thread(s) alive (%s), and a forked process "
                    "would hang on any lock one of them holds%s", what, len(others), ", ".join(others),
                    "" if warned is None or warned else " (the run's other parts not forked: logged at INFO)")
            if warned is not None:
                warned.append(what)
            yield False
            return
        # the objects alive at the fork are set apart from the cyclic collector while the body forks, so the
        # child's collections never walk them: a walk writes to every object it visits, and a written page shared
        # with this process becomes the child's own copy (a city night's objects: ~90 MB of pages per child)
        release_free_memory()
        # a caller's own freeze is left as it was: gc.unfreeze() would undo it too
        ours = gc.get_freeze_count() == 0
        if ours:
            gc.freeze()
        try:
            yield True
        finally:
            if ours:
                gc.unfreeze()
