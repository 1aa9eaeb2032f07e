"""Serve a folder over HTTP with byte-range requests, as PMTiles archives need.

Python's ``http.server`` ignores ``Range`` headers, so a PMTiles client (which reads the archive
header, directories and tiles as byte ranges) gets the whole file each time. :class:`RangeHandler`
answers ``Range: bytes=a-b`` / ``bytes=a-`` / ``bytes=-n`` with ``206 Partial Content`` (one range;
``416`` when it lies outside the file). Run ``python -m gridlib.maps.serve FOLDER [PORT]`` and open
``http://127.0.0.1:PORT/``; it binds to loopback by default.

>>> import tempfile, pathlib, threading, urllib.request
>>> d = pathlib.Path(tempfile.mkdtemp()); _ = (d / "a.bin").write_bytes(bytes(range(10)))
>>> server = make_server(d, port=0)
>>> t = threading.Thread(target=server.serve_forever, daemon=True); t.start()
>>> req = urllib.request.Request(f"http://127.0.0.1:{server.server_port}/a.bin", headers={"Range": "bytes=2-4"})
>>> with urllib.request.urlopen(req) as r: (r.status, r.read(), r.headers["Content-Range"])
(206, b'\\x02\\x03\\x04', 'bytes 2-4/10')
>>> server.shutdown(); server.server_close()
"""

from __future__ import annotations

import functools
import os
import re
import sys
from http import HTTPStatus
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

__all__ = ["RangeHandler", "make_server"]

_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")


class RangeHandler(SimpleHTTPRequestHandler):
    """``SimpleHTTPRequestHandler`` that honours one byte range per request.

    >>> RangeHandler.extensions_map[".pmtiles"]
    'application/octet-stream'
    """

    extensions_map = {**SimpleHTTPRequestHandler.extensions_map, ".pmtiles": "application/octet-stream",
                      ".json": "application/json"}

    def send_head(self):  # noqa: D102 - http.server hook
        header = self.headers.get("Range")
        path = self.translate_path(self.path)
        if not header or not os.path.isfile(path):
            return super().send_head()
        size = os.path.getsize(path)
        m = _RANGE.match(header.strip())
        if m is None or m.groups() == ("", ""):
            return super().send_head()  # malformed or multi-range: the whole file, as RFC 9110 allows
        first, last = m.groups()
        if first == "":
            start, end = max(0, size - int(last)), size - 1
        else:
            start, end = int(first), min(size - 1, int(last)) if last else size - 1
        if start >= size or start > end:
            self.send_response(HTTPStatus.REQUESTED_RANGE_NOT_SATISFIABLE)
            self.send_header("Content-Range", f"bytes */{size}")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return None
        f = open(path, "rb")  # noqa: SIM115 - closed by copyfile's caller (do_GET)
        f.seek(start)
        self.send_response(HTTPStatus.PARTIAL_CONTENT)
        self.send_header("Content-Type", self.guess_type(path))
        self.send_header("Content-Range", f"bytes {start}-{end}/{size}")
        self.send_header("Content-Length", str(end - start + 1))
        self.send_header("Accept-Ranges", "bytes")
        self.end_headers()
        self._remaining = end - start + 1
        return f

    def copyfile(self, source, outputfile):  # noqa: D102 - http.server hook
        remaining = getattr(self, "_remaining", None)
        if remaining is None:
            return super().copyfile(source, outputfile)
        self._remaining = None
        while remaining > 0:
            chunk = source.read(min(65536, remaining))
            if not chunk:
                break
            outputfile.write(chunk)
            remaining -= len(chunk)

    def end_headers(self):  # noqa: D102 - http.server hook
        if not self.headers.get("Range"):
            self.send_header("Accept-Ranges", "bytes")
        super().end_headers()

    def log_message(self, format, *args):  # noqa: A002 - http.server signature
        pass


def make_server(folder: str | os.PathLike, *, port: int = 8000, host: str = "127.0.0.1") -> ThreadingHTTPServer:
    """Return a threading HTTP server for ``folder`` with range support (``port=0`` picks a free port).

    >>> import tempfile
    >>> s = make_server(tempfile.mkdtemp(), port=0); s.server_port > 0
    True
    >>> s.server_close()
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise NotADirectoryError(f"cannot serve {folder}: not a folder")
    return ThreadingHTTPServer((host, port), functools.partial(RangeHandler, directory=str(folder)))


if __name__ == "__main__":  # pragma: no cover - manual use
    root = sys.argv[1] if len(sys.argv) > 1 else "."
    server = make_server(root, port=int(sys.argv[2]) if len(sys.argv) > 2 else 8000)
    print(f"serving {Path(root).resolve()} at http://127.0.0.1:{server.server_port}/ (Ctrl-C stops)")
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
