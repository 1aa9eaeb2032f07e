"""Passwords never reach messages or logs (issue 18 item 4): hostile passwords in every DSN form."""

from __future__ import annotations

import logging
import re
from urllib.parse import quote, urlsplit

import pandas as pd
import pytest

from gridlib.cli import main
from gridlib.errors import StoreError
from gridlib.store.base import mask_dsn

PASSWORDS = ["p@ssW0rdX", "pass W0rdY", "a:b/c#d%eW0rdZ", "qu'ote\"dW0rdQ", "100%sureW0rdP", "x@y:z/w#v%u W0rdR"]


def _pieces(password: str) -> set[str]:
    """Everything of the password a leak could show: itself, encoded, and its words of 4+ characters."""
    words = {w for w in re.split(r"[\s@:/#'\"%]+", password) if len(w) >= 4}
    return {password, quote(password, safe="")} | words


def _forms(password: str, host: str = "127.0.0.1", port: int = 1, db: str = "relia") -> list[str]:
    keyword = password.replace("\\", "\\\\").replace("'", "\\'")
    return [
        f"postgresql://postgres:{password}@{host}:{port}/{db}",  # as typed, not encoded
        f"postgresql://postgres:{quote(password, safe='')}@{host}:{port}/{db}",
        f"postgres://postgres@{host}:{port}/{db}?password={quote(password, safe='')}",
        f"host={host} port={port} dbname={db} password='{keyword}'",
        f"host={host} port={port} password={password} dbname={db}",
    ]


def _assert_no_leak(text: str, password: str) -> None:
    for piece in _pieces(password):  # as a word: 'pass' inside 'password=' is no leak
        assert not re.search(rf"(?<![A-Za-z0-9]){re.escape(piece)}(?![A-Za-z0-9])", text), (
            f"{piece!r} of the password shown in {text!r}")


@pytest.mark.parametrize("password", PASSWORDS)
def test_mask_dsn_hides_every_password_form(password):
    for dsn in _forms(password):
        masked = mask_dsn(dsn, dsn)
        _assert_no_leak(masked, password)
        _assert_no_leak(mask_dsn(dsn), password)  # the DSN alone, without knowing it is one
        assert "127.0.0.1" in masked and "***" in masked


def test_mask_dsn_issue_examples():
    assert mask_dsn("postgresql://postgres:p@ssW0rdX@127.0.0.1:1/relia") == "postgresql://postgres:***@127.0.0.1:1/relia"
    assert mask_dsn("postgresql://postgres:pass W0rdY@127.0.0.1:1/relia") == "postgresql://postgres:***@127.0.0.1:1/relia"
    assert mask_dsn("host=h password=pass W0rdY dbname=x") == "host=h password=*** dbname=x"
    # no password: nothing changes
    assert mask_dsn("postgresql://gridlib@localhost:5432/gridlib") == "postgresql://gridlib@localhost:5432/gridlib"
    assert mask_dsn("/data/store.gpkg") == "/data/store.gpkg"


@pytest.mark.parametrize("password", PASSWORDS)
def test_connection_errors_quote_no_password(password):
    """psycopg's own errors quote pieces of a bad DSN ('missing "=" after "W0rdY"', 'failed to resolve host')."""
    for dsn in _forms(password):
        with pytest.raises(StoreError) as info:
            import gridlib.store

            gridlib.store.open(dsn) if dsn.startswith("postgres") else gridlib.store.PostgisStore(dsn)
        _assert_no_leak(str(info.value), password)


def _with_password(url: str, password: str) -> str:
    parts = urlsplit(url)
    user = parts.username or "postgres"
    netloc = f"{user}:{quote(password, safe='')}@{parts.hostname}:{parts.port}"
    return parts._replace(netloc=netloc).geturl()


@pytest.mark.postgis
@pytest.mark.parametrize("password", PASSWORDS[:3])
def test_cli_and_logs_never_show_the_password(postgis_url, password, tmp_path, capsys, caplog):
    """db init, db layers, grid import, nightly and library logging with a password-bearing URL."""
    url = _with_password(postgis_url, password)  # the throwaway cluster trusts local connections
    bad = url.rsplit(":", 1)[0] + ":1/none"  # nothing listens on port 1
    caplog.set_level(logging.DEBUG)
    assert main(["db", "init", url]) == 0
    assert main(["db", "layers", url]) == 0
    assert main(["db", "layers", bad]) == 2
    assert main(["db", "init", bad]) == 2
    grids = tmp_path / "grids.csv"
    grids.write_text("not a grid file\n")
    assert main(["grid", "import", str(grids), "--store", bad, "--effective-date", "2026-01-01"]) != 0
    assert main(["nightly", "--store", url + "?options=-csearch_path%3Dnone", "--date", "2026-11-20",
                 "--out", str(tmp_path / "out")]) != 0
    import gridlib as gl

    with gl.store.open(url, schema="t_secrets") as store:
        store.write_layer("x", pd.DataFrame({"n": [1]}))
        logging.getLogger("gridlib").info("store %s", gl.store.mask_dsn(store.url, store.url))
        shown = repr(store)
    out = capsys.readouterr()
    for text in (out.out, out.err, caplog.text, shown):
        _assert_no_leak(text, password)
    assert "***" in out.out + out.err
