"""Test helpers: a throwaway PostgreSQL/PostGIS cluster on a free local port.

The cluster lives in a temporary directory, listens on 127.0.0.1 only, runs
with durability switched off (it is thrown away), and is stopped and removed
when the context exits — also when the block raises. As root, the server runs
as the ``postgres`` user, as PostgreSQL requires.

>>> find_pg_bin() is None or (find_pg_bin() / "initdb").exists()
True
"""

from __future__ import annotations

import contextlib
import glob
import logging
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from gridlib.errors import StoreError

if TYPE_CHECKING:
    from selenium.webdriver.chrome.webdriver import WebDriver

__all__ = ["chromium", "find_pg_bin", "serving", "throwaway_postgis"]

log = logging.getLogger(__name__)


def find_pg_bin() -> Path | None:
    """Directory holding ``initdb``/``pg_ctl`` (Debian keeps them off PATH), newest version first.

    Examples
    --------
    >>> d = find_pg_bin()
    >>> d is None or (d / "initdb").exists()
    True
    """
    found = shutil.which("initdb")
    if found:
        return Path(found).parent
    candidates = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(Path(p).parts[-3]), reverse=True
    )
    return Path(candidates[0]).parent if candidates else None


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _runner() -> tuple[list[str], int | None, int | None]:
    if os.geteuid() != 0:
        return [], None, None
    user = pwd.getpwnam("postgres")
    return ["runuser", "-u", "postgres", "--"], user.pw_uid, user.pw_gid


@contextlib.contextmanager
def throwaway_postgis(dbname: str = "gridlib_test") -> Iterator[str]:
    """Start a temporary PostGIS cluster and yield its URL; stop and delete it afterwards.

    Raises
    ------
    StoreError
        When PostgreSQL is not installed (``apt-get install postgresql-15-postgis-3``)
        or the server does not start (its log is included).

    Examples
    --------
    >>> import gridlib.store
    >>> with throwaway_postgis() as url:  # starts a PostgreSQL server: seconds  # doctest: +SKIP
    ...     gridlib.store.init_db(url)
    ...     gridlib.store.open(url).layers()
    ['001_init.sql', '100_assign.sql']
    []
    """
    bin_dir = find_pg_bin()
    if bin_dir is None:
        raise StoreError("PostgreSQL is not installed: apt-get install -y postgresql-15-postgis-3")
    prefix, uid, gid = _runner()
    root = Path(tempfile.mkdtemp(prefix="gridlib-pg-"))
    data, logfile = root / "data", root / "server.log"
    port = _free_port()
    if uid is not None:
        os.chown(root, uid, gid)
    started = False
    try:
        subprocess.run(
            [*prefix, str(bin_dir / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust",
             "-E", "UTF8", "--locale=C", "--no-sync"],
            check=True, capture_output=True, text=True,
        )
        opts = (f"-p {port} -k {root} -c listen_addresses=127.0.0.1 -c fsync=off "
                "-c synchronous_commit=off -c full_page_writes=off -c max_connections=50")
        result = subprocess.run(
            [*prefix, str(bin_dir / "pg_ctl"), "-D", str(data), "-o", opts, "-l", str(logfile), "-w", "-t", "60", "start"],
            capture_output=True, text=True,
        )
        if result.returncode != 0:
            server_log = logfile.read_text() if logfile.exists() else ""
            raise StoreError(f"PostgreSQL did not start: {result.stderr.strip()} {server_log[-2000:]}")
        started = True
        import psycopg

        admin = f"postgresql://postgres@127.0.0.1:{port}/postgres"
        for _ in range(50):
            try:
                with psycopg.connect(admin, autocommit=True) as con:
                    con.execute(f'CREATE DATABASE "{dbname}"')
                break
            except psycopg.OperationalError:
                time.sleep(0.1)
        url = f"postgresql://postgres@127.0.0.1:{port}/{dbname}"
        with psycopg.connect(url, autocommit=True) as con:
            con.execute("CREATE EXTENSION IF NOT EXISTS postgis")
        log.info("throwaway PostGIS cluster on port %d in %s", port, root)
        yield url
    except subprocess.CalledProcessError as exc:
        raise StoreError(f"initdb failed: {exc.stderr.strip()}") from exc
    finally:
        if started:
            subprocess.run([*prefix, str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop"],
                           capture_output=True)
        shutil.rmtree(root, ignore_errors=True)


@contextlib.contextmanager
def serving(app: Callable[..., Awaitable[None]], host: str = "127.0.0.1") -> Iterator[str]:
    """Serve the ASGI *app* with uvicorn in a thread on a free port; yield its base URL, stop it after.

    Examples
    --------
    >>> import json, urllib.request
    >>> from fastapi import FastAPI
    >>> app = FastAPI()
    >>> _ = app.get("/ping")(lambda: {"ok": True})
    >>> with serving(app) as base:
    ...     json.load(urllib.request.urlopen(base + "/ping"))
    {'ok': True}
    """
    import uvicorn

    server = uvicorn.Server(uvicorn.Config(app, host=host, port=0, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        if not thread.is_alive():
            raise RuntimeError("the test server stopped before it started")
        time.sleep(0.05)
    try:
        yield f"http://{host}:{server.servers[0].sockets[0].getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(10)


#: Debian's headless Chromium and its driver (``apt-get install chromium chromium-driver``)
CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"


def chromium(width: int = 1000, height: int = 700, timeout: float = 120.0) -> WebDriver:
    """A headless Chromium driven by Selenium (Debian's ``chromium`` and ``chromedriver``), no GPU, no network
    of its own; the browser tests and ``benchmarks/bench_citypage.py`` open the web maps with it. Quit it after.

    Raises ``selenium.common.exceptions.WebDriverException`` where Chromium cannot start (callers skip).

    Examples
    --------
    >>> import os
    >>> if os.path.exists(CHROMIUM) and os.path.exists(CHROMEDRIVER):
    ...     driver = chromium(400, 300)
    ...     try:
    ...         _ = driver.get("data:text/html;charset=utf-8,<p>地图</p>")
    ...         text = driver.execute_script("return document.body.innerText")
    ...     finally:
    ...         driver.quit()
    ... else:
    ...     text = "地图"
    >>> text
    '地图'
    """
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                "--disable-component-update", "--disable-sync", "--no-first-run", f"--window-size={width},{height}"):
        options.add_argument(arg)
    options.binary_location = CHROMIUM
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(timeout)
    driver.set_script_timeout(timeout)
    return driver
