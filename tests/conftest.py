"""Shared fixtures. PostGIS tests run against a real throwaway cluster started here."""

from __future__ import annotations

import os
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"


@pytest.fixture(scope="session")
def postgis_url() -> Iterator[str]:
    """URL of a PostGIS database prepared with ``gridlib db init``.

    Uses ``$GRIDLIB_TEST_PG_URL`` when set; otherwise starts a throwaway
    cluster in a temporary directory for the session and removes it afterwards.
    """
    from gridlib.store import init_db

    url = os.environ.get("GRIDLIB_TEST_PG_URL")
    if url:
        init_db(url)
        yield url
        return
    from gridlib.testing import find_pg_bin, throwaway_postgis

    if find_pg_bin() is None:
        pytest.fail("PostgreSQL/PostGIS is not installed: run `make test` (it installs postgresql-15-postgis-3)")
    with throwaway_postgis() as url:
        init_db(url)
        yield url


@pytest.fixture
def pg_store(postgis_url: str):
    """A PostGIS store in a fresh schema, dropped after the test."""
    import psycopg
    from psycopg import sql

    from gridlib.store import open as open_store

    schema = f"t_{uuid.uuid4().hex[:10]}"
    store = open_store(postgis_url, schema=schema)
    yield store
    store.close()
    with psycopg.connect(postgis_url, autocommit=True) as con:
        con.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))
        con.execute("DELETE FROM gridlib_meta.layers WHERE schema_name = %s", (schema,))


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """../shared/data (real data that may not be bundled, e.g. GeoLife); skip where absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"the shared data folder {SHARED_DATA} is absent (GeoLife etc. are not bundled: licence)")
    return SHARED_DATA


@pytest.fixture(scope="session")
def demo_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The synthetic demo data set (seed 0), generated once per test session."""
    import gridlib as gl

    out = tmp_path_factory.mktemp("demo")
    gl.demo.generate(out, seed=0)
    return out


@pytest.fixture(scope="module")
def chromium():
    """A headless Chromium (Debian's chromium + chromedriver) for one test module; skips where unusable."""
    from selenium.common.exceptions import WebDriverException

    from gridlib.testing import chromium as start

    try:
        driver = start()
    except WebDriverException as exc:  # pragma: no cover - environment without chromium
        pytest.skip(f"chromium not usable: {exc}")
    yield driver
    driver.quit()


@pytest.fixture()
def fix_stores():
    """``fix_stores(path, **options)`` opens a :class:`gridlib.live.gateway.FixStore` that is closed (its writer
    threads stopped) when the test ends, whatever it asserted."""
    from gridlib.live.gateway import FixStore

    opened = []

    def open_store(path, **options):
        opened.append(FixStore(path, **options))
        return opened[-1]

    yield open_store
    for store in opened:
        store.close()


@pytest.fixture(scope="module", autouse=True)
def no_fixstore_writer_left(request) -> Iterator[None]:
    """A live test module closes the FixStores it opened: once its fixtures are torn down, no writer thread of
    theirs is left (one left alive keeps every later nightly run of this pytest process from forking)."""
    if not request.module.__name__.rpartition(".")[2].startswith("test_live_"):
        yield
        return
    before = set(threading.enumerate())
    yield
    left = [t for t in threading.enumerate() if t.name == "fixstore-writer" and t not in before]
    for thread in left:     # a store dropped (not closed) ends its writer without waiting for it
        thread.join(5)
    assert [t for t in left if t.is_alive()] == [], f"{request.module.__name__} left FixStore writer threads"
