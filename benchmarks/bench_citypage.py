"""First render of the tiled city web map (``gridlib.maps.tiled``) in headless Chromium at city scale.

    python benchmarks/bench_citypage.py               # 870 x 870 = 756,900 grids (the issue's city)
    python benchmarks/bench_citypage.py --n 448       # 200,704 grids
    python benchmarks/bench_citypage.py --repeat 5
    python benchmarks/bench_citypage.py --rebuild-tiles --views   # the tiles' build only (whole, per archive)

The city is a lattice of 100 m squares in Shanghai (UTM 51N), 40 x 40 per community, 100 x 100 per
street: as many grids as the Zhengzhou store (755,810) without its build (``benchmarks/_city.py``'s
``gl.grid.build`` over Zhengzhou is not cached here and takes many minutes). Its tiles
(``gl.maps.tiles.build_grid_tiles``, once per edition) are cached in
``benchmarks/results/citypage_<n>/``; the night's attributes are written as the nightly writes them
(names and classes dictionary-encoded, gzipped) with every column of the nightly's grid tooltip.
The page is served by ``gridlib.maps.serve`` (range requests) and opened in Debian's headless
``chromium`` (1000 x 700) at three views, each in a fresh tab with an empty cache:

- ``overview``: the page's own opening view (fitted to the city: communities dissolved);
- ``z11``: zoom 11.5 on the city centre (several z11 tiles, ~30,000 grids each);
- ``z14``: zoom 14 on the city centre (one z11 tile over-zoomed; grid outlines drawn after the first frame,
  ``outlined`` is when the first frame with them was drawn).

``first_render_s`` is the page's ``window.gridlibReady`` (navigation start → first frame drawn with
the attributes joined and every tile in view loaded); the page's ``gridlibTimes`` give the parts
(script parsed, attributes parsed and indexed, first tile decoded); ``browser_cpu_s`` the CPU seconds of
Chromium's processes (renderer, GPU, ...) during the open (until the outlines at z14), which says more than the
wall time on a shared machine; ``gpu_cpu_s`` / ``renderer_cpu_s`` its parts in the GPU process (software WebGL) and the page's renderer;
``load_1min`` the load average then. Median of ``--repeat`` opens.
Appends one JSON line to ``benchmarks/results/bench_citypage.jsonl``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import threading
import time
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from gridlib.maps.serve import make_server  # noqa: E402
from gridlib.maps.tiled import GRID_FIELDS, tiled_page  # noqa: E402
from gridlib.maps.tiles import build_grid_tiles, write_grid_attributes  # noqa: E402
from gridlib.testing import chromium  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"
X0, Y0 = 350_000, 3_460_000


def lattice(n: int) -> gpd.GeoDataFrame:
    """n x n 100 m squares, codes west→east, north→south; 40 x 40 per community, 100 x 100 per street."""
    rows, cols = np.divmod(np.arange(n * n), n)
    ys = n - 1 - rows
    street = np.char.add("S", ((cols // 100) * 100 + rows // 100).astype(str))
    comm = np.char.add("C", ((cols // 40) * 100 + rows // 40).astype(str))
    return gpd.GeoDataFrame(
        {"grid_code": np.char.add("G", np.char.zfill(np.arange(n * n).astype(str), 7)),
         "community_code": comm, "community_name": np.char.add(comm, "社区"),
         "street_code": street, "street_name": np.char.add(street, "街道")},
        geometry=shapely.box(X0 + cols * 100, Y0 + ys * 100, X0 + cols * 100 + 100, Y0 + ys * 100 + 100),
        crs=32651)


def attributes(grids: gpd.GeoDataFrame, seed: int = 0) -> pd.DataFrame:
    """The nightly grid tooltip's columns, seeded: 5 % hot 99, a few hot 95/90 and cold spots, the rest not
    significant; cases and shares with some missing values."""
    rng = np.random.default_rng(seed)
    n = len(grids)
    t = pd.DataFrame(grids.drop(columns=grids.geometry.name))
    t["responsible_unit"] = t["community_name"] + "居委会"
    t["person"] = "网格员" + (np.arange(n) % 997).astype(str)
    t["team"] = t["street_name"] + "执法队"
    t["open_cases"] = rng.poisson(0.4, n)
    t["overdue_cases"] = rng.binomial(t["open_cases"], 0.2)
    t["cases_30d"] = rng.poisson(2.0, n)
    classes = np.array(["hot_99", "hot_95", "hot_90", "not_significant", "cold_90", "cold_95", "cold_99"])
    t["hotspot_class"] = classes[rng.choice(7, n, p=[0.05, 0.04, 0.03, 0.8, 0.03, 0.03, 0.02])]
    share = rng.random(n).round(3)
    t["camera_road_share"] = np.where(rng.random(n) < 0.1, np.nan, share)
    t["reachable_10min"] = rng.random(n) < 0.9
    return t


def tile_parts(grids: gpd.GeoDataFrame, folder: Path) -> dict:
    """Wall and CPU seconds of each part of ``build_grid_tiles``: the grids archive, each dissolve and its archive
    (the same private steps, in the same order; the archives are written to ``folder``)."""
    from gridlib.maps import tiles

    out: dict = {}

    def timed(name: str, f, *args):
        t0, c0 = time.perf_counter(), time.process_time()
        result = f(*args)
        out[f"{name}_s"], out[f"{name}_cpu_s"] = round(time.perf_counter() - t0, 2), round(time.process_time() - c0, 2)
        return result

    ordered = grids.sort_values("grid_code", kind="stable")
    timed("grids_archive", tiles._write_grid_archive, ordered[["grid_code", ordered.geometry.name]].astype(
        {"grid_code": str}), folder / "grids.pmtiles", "grids", (tiles.GRID_MINZOOM, tiles.GRID_MINZOOM))
    for level, name in tiles._LEVELS.items():
        dissolved = timed(f"dissolve_{level}", tiles._dissolved, ordered, level)
        timed(f"{name}_archive", tiles._write_archive, dissolved.to_crs(3857), folder / f"{name}.pmtiles", name, 0,
              tiles.GRID_MINZOOM - 1, True)
    return out


def build(n: int, binary: bool = True, rebuild_tiles: bool = False, **page_options) -> tuple[Path, dict]:
    folder = RESULTS / f"citypage_{n}"
    timings = {}
    grids = None
    if rebuild_tiles or not (folder / "grids.pmtiles").is_file():
        grids = lattice(n)
        load, t0, c0 = os.getloadavg()[0], time.perf_counter(), time.process_time()
        build_grid_tiles(grids, folder)
        timings["tiles_build_s"] = round(time.perf_counter() - t0, 1)
        timings["tiles_build_cpu_s"] = round(time.process_time() - c0, 1)
        timings["tiles_build_load_1min"] = round((load + os.getloadavg()[0]) / 2, 1)
        if rebuild_tiles:
            timings["tiles_parts"] = tile_parts(grids, folder)
    grids = lattice(n) if grids is None else grids
    fields = [*GRID_FIELDS, ("10分钟可达", "reachable_10min", "bool")]
    table = attributes(grids)
    t0 = time.perf_counter()
    texts = [c for _, c, kind in fields if kind in ("text", "class")]
    name = "grid_attributes.bin" if binary else "grid_attributes.json"
    write_grid_attributes(table, folder / name, [c for _, c, _ in fields], dictionary=texts, compress=True,
                          binary=binary)
    timings["attributes_write_s"] = round(time.perf_counter() - t0, 2)
    page = tiled_page(folder, attributes=name, title="责任网格地图 · 城市基准", fields=fields, attribution="合成数据",
                      **page_options)
    sizes = {p.name: p.stat().st_size for p in sorted(folder.iterdir()) if p.is_file()}
    return page, {"grids": len(grids), **timings, "bytes": sizes}


def browser_cpu(driver) -> dict[str, float]:
    """CPU seconds used so far by the browser's processes, by kind (``gpu``: the GPU process, where the software
    WebGL of a GPU-less headless Chromium draws; ``renderer``: the page's JavaScript; ``other``): the work of an
    open, which the wall time on a shared machine (load 5-17 here) does not show alone."""
    procs = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            cmd = (stat.parent / "cmdline").read_bytes()
        except OSError:
            continue
        kind = "gpu" if b"--type=gpu-process" in cmd else "renderer" if b"--type=renderer" in cmd else "other"
        procs[int(stat.parent.name)] = (int(fields[1]), int(fields[11]) + int(fields[12]), kind)  # ppid, CPU ticks
    tree, todo = set(), [driver.service.process.pid]
    while todo:
        pid = todo.pop()
        tree.add(pid)
        todo += [p for p, (ppid, _, _) in procs.items() if ppid == pid and p not in tree]
    out = {"gpu": 0.0, "renderer": 0.0, "other": 0.0}
    for pid in tree & set(procs):
        out[procs[pid][2]] += procs[pid][1] / os.sysconf("SC_CLK_TCK")
    return out


def open_once(driver, url: str, timeout: float = 180.0) -> dict:
    driver.switch_to.new_window("tab")
    cpu0 = browser_cpu(driver)
    driver.get(url)
    end = time.time() + timeout
    ready = None
    while time.time() < end:
        ready = driver.execute_script("return window.gridlibReady")
        if ready:
            break
        time.sleep(0.05)
    if not ready:
        status = driver.execute_script("return document.getElementById('gl-status').textContent")
        raise RuntimeError(f"no first render within {timeout} s: {status}")
    while time.time() < end and not driver.execute_script(  # and, at outline zooms, the outlines drawn
            "return window.gridlibTimes.outlined || window.gridlibDeck.getViewports()[0].zoom < gridlibConfig.outlineZoom"):
        time.sleep(0.05)
    cpu = {k: v - cpu0[k] for k, v in browser_cpu(driver).items()}
    times = driver.execute_script("return Object.assign({}, window.gridlibTimes, {frames: (window.gridlibTimes.frames || 0) * 1000})")
    nav = driver.execute_script("const e = performance.getEntriesByType('navigation')[0];"
                                "return {dcl: e.domContentLoadedEventEnd, load: e.loadEventEnd}")
    out = {"first_render_s": round(ready / 1000, 3), **{k: round(v / 1000, 3) for k, v in times.items()
                                                       if isinstance(v, (int, float))},
           "dom_content_loaded_s": round(nav["dcl"] / 1000, 3), "browser_cpu_s": round(sum(cpu.values()), 2),
           "gpu_cpu_s": round(cpu["gpu"], 2), "renderer_cpu_s": round(cpu["renderer"], 2),
           "load_1min": round(os.getloadavg()[0], 1)}
    driver.close()
    driver.switch_to.window(driver.window_handles[0])
    return out


def profile(driver, url: str, top: int = 25) -> list[tuple[str, float]]:
    """Open ``url`` under Chromium's sampling profiler (DevTools protocol) until the first render; return the
    functions with the most self time (ms), as "name (line)"; deck.gl's are minified."""
    driver.switch_to.new_window("tab")
    driver.execute_cdp_cmd("Profiler.enable", {})
    driver.execute_cdp_cmd("Profiler.setSamplingInterval", {"interval": 200})
    driver.execute_cdp_cmd("Profiler.start", {})
    driver.get(url)
    while not driver.execute_script("return window.gridlibReady"):
        time.sleep(0.05)
    prof = driver.execute_cdp_cmd("Profiler.stop", {})["profile"]
    driver.close()
    driver.switch_to.window(driver.window_handles[0])
    nodes = {n["id"]: n for n in prof["nodes"]}
    self_ms: dict[str, float] = {}
    stamps = prof["timeDeltas"]
    for node_id, dt in zip(prof["samples"][1:], stamps[1:], strict=False):
        f = nodes[node_id]["callFrame"]
        key = f"{f['functionName'] or '(anon)'} ({f['lineNumber']})"
        self_ms[key] = self_ms.get(key, 0.0) + dt / 1000
    return sorted(self_ms.items(), key=lambda kv: -kv[1])[:top]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=870, help="lattice side (grids = n * n)")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--views", nargs="*", default=["overview", "z11", "z14"], choices=["overview", "z11", "z14"],
                    help="views to open (none: build only)")
    ap.add_argument("--outline-zoom", type=float, help="tiled_page(outline_zoom=...), default the page's")
    ap.add_argument("--json", action="store_true", help="the JSON attribute file (before: binary)")
    ap.add_argument("--profile", choices=["overview", "z11", "z14"], help="print a CPU profile of one open, no timing")
    ap.add_argument("--rebuild-tiles", action="store_true",
                    help="build the tiles again (not from the cache), timing the whole and each archive's part")
    args = ap.parse_args()
    options = {} if args.outline_zoom is None else {"outline_zoom": args.outline_zoom}
    page, facts = build(args.n, binary=not args.json, rebuild_tiles=args.rebuild_tiles, **options)
    facts.update(options)
    facts["attributes"] = "json" if args.json else "binary"
    print(json.dumps(facts, ensure_ascii=False))
    lon, lat = gpd.GeoSeries([shapely.Point(X0 + args.n * 50, Y0 + args.n * 50)], crs=32651).to_crs(4326).iloc[0].coords[0]
    views = {"overview": "", "z11": f"#11.5/{lat:.6f}/{lon:.6f}", "z14": f"#14/{lat:.6f}/{lon:.6f}"}
    result = {"bench": "citypage", "date": time.strftime("%Y-%m-%d %H:%M"), "load_1min": os.getloadavg()[0], **facts,
              "page_bytes": page.stat().st_size}
    if not args.views and not args.profile:
        _record(result, [])
        return
    server = make_server(page.parent, port=0)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    driver = chromium(timeout=180)
    try:
        base = f"http://127.0.0.1:{server.server_port}/{page.name}"
        open_once(driver, base + views["z14"])  # warm the OS file cache and Chromium's code cache
        if args.profile:
            for name, ms in profile(driver, base + views[args.profile]):
                print(f"{ms:9.1f} ms  {name}")
            return
        for name in args.views:
            view = views[name]
            runs = [open_once(driver, base + view) for _ in range(args.repeat)]
            med = {k: statistics.median(r[k] for r in runs if k in r) for k in runs[0]}
            result[name] = med
            print(name, json.dumps(med), "first renders:", [r["first_render_s"] for r in runs])
    finally:
        driver.quit()
        server.shutdown()
        server.server_close()
    _record(result, args.views)


def _record(result: dict, views: list[str]) -> None:
    RESULTS.mkdir(exist_ok=True)
    with open(RESULTS / "bench_citypage.jsonl", "a", encoding="utf-8") as f:
        f.write(json.dumps(result, ensure_ascii=False) + "\n")
    print(json.dumps({k: result[k] for k in ("grids", *views)}, ensure_ascii=False))


if __name__ == "__main__":
    main()
