"""gl.codes.check_codes vs the per-row Python regex loop a user would otherwise write.

    python benchmarks/bench_codes.py            # 1,000,000 grid codes + 1,000,000 component ids
    python benchmarks/bench_codes.py --quick    # 100,000 of each

The codes are synthetic but realistic: real county codes (Zhengzhou, Shanghai),
95 % valid, the rest corrupted the way real columns are (a letter, a dropped digit,
an unknown county, street/community 000, empty cells, Excel scientific notation).
The baseline does the same checks (layout regex, county in the GB/T 2260 set,
non-zero street/community/sequence, class in the catalogue) with ``re`` in a
``for`` loop and builds the same valid/reason lists. Prints the ratio from one run,
absolute times (best of 3 calls each) and peak memory, and writes one JSON line to
benchmarks/results/bench_codes.jsonl.
"""

from __future__ import annotations

import argparse
import json
import re
import resource
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import gridlib.codes as gc  # noqa: E402
from gridlib.codes.admin import divisions  # noqa: E402

COUNTIES = ["410102", "410103", "410104", "410105", "410108", "410171", "310101", "310109", "310110", "310115"]


def make_grid_codes(n: int, seed: int = 0) -> pd.Series:
    rng = np.random.default_rng(seed)
    county = np.array(COUNTIES)[rng.integers(0, len(COUNTIES), n)]
    street = np.char.zfill(rng.integers(1, 120, n).astype(str), 3)
    comm = np.char.zfill(rng.integers(1, 400, n).astype(str), 3)
    seq = np.char.zfill(rng.integers(1, 999, n).astype(str), 3)
    codes = np.char.add(np.char.add(np.char.add(county, street), comm), seq).astype(object)
    bad = rng.random(n) < 0.05
    kinds = rng.integers(0, 6, n)
    codes[bad & (kinds == 0)] = "41010500100X007"
    codes[bad & (kinds == 1)] = "41010500100300"[:13]
    codes[bad & (kinds == 2)] = "410199001003007"
    codes[bad & (kinds == 3)] = "410105001000007"
    codes[bad & (kinds == 4)] = ""
    codes[bad & (kinds == 5)] = "4.10108E+14"
    return pd.Series(codes, dtype="str")


def make_component_ids(n: int, seed: int = 1) -> pd.Series:
    rng = np.random.default_rng(seed)
    classes = gc.catalogue(kind="component").class_code.to_numpy().astype(str)
    county = np.array(COUNTIES)[rng.integers(0, len(COUNTIES), n)]
    cls = classes[rng.integers(0, len(classes), n)]
    seq = np.char.zfill(rng.integers(1, 999_999, n).astype(str), 6)
    codes = np.char.add(np.char.add(county, cls), seq).astype(object)
    bad = rng.random(n) < 0.05
    codes[bad] = np.char.add(np.char.add(county[bad], "06099"), seq[bad])  # unknown class
    return pd.Series(codes, dtype="str")


GRID15 = re.compile(r"^(\d{6})(\d{3})(\d{3})(\d{3})$")
GRID14 = re.compile(r"^(\d{6})(\d{3})(\d{3})(\d{2})$")
PART17 = re.compile(r"^(\d{6})(\d{5})(\d{6})$")


def baseline_grid(codes: list, counties: set[str]) -> list[str]:
    """What a user writes: one regex match and a few checks per row; "" means valid."""
    out = []
    for c in codes:
        if c is None or c != c or not str(c).strip():
            out.append("empty")
            continue
        c = str(c).strip()
        m = GRID15.match(c) or GRID14.match(c)
        if m is None:
            bad = next((i for i, ch in enumerate(c) if not ch.isdigit()), None)
            out.append(f"non-digit {c[bad]!r} at position {bad + 1}" if bad is not None else f"wrong length {len(c)}")
        elif m.group(1) not in counties:
            out.append(f"county {m.group(1)} not in the GB/T 2260 list")
        elif m.group(2) == "000" or int(m.group(2)) > 599:
            out.append(f"street code {m.group(2)}")
        elif m.group(3) == "000":
            out.append("community code 000 where one is required")
        else:
            out.append("grid sequence 000" if len(c) == 15 and m.group(4) == "000" else "")
    return out


def baseline_component(codes: list, counties: set[str], classes: set[str]) -> list[str]:
    out = []
    for c in codes:
        m = PART17.match(c) if isinstance(c, str) else None
        if m is None:
            out.append("not 17 digits")
        elif m.group(1) not in counties:
            out.append(f"county {m.group(1)} not in the GB/T 2260 list")
        elif m.group(2) not in classes:
            out.append(f"unknown component class {m.group(2)}")
        else:
            out.append("sequence 000000" if m.group(3) == "000000" else "")
    return out


def timed(fn, *args, repeat: int = 3, **kw):
    """Result and best wall time of ``repeat`` calls (the machine is shared: best-of damps noise)."""
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn(*args, **kw)
        best = min(best, time.perf_counter() - t0)
    return out, best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="100,000 codes instead of 1,000,000")
    args = ap.parse_args()
    n = 100_000 if args.quick else 1_000_000
    counties = set(divisions("county").code)
    classes = set(gc.catalogue(kind="component").class_code)
    grids = make_grid_codes(n)
    comps = make_component_ids(n)
    gc.check_codes(grids.head(100), log_summary=False)  # load the shipped tables once, outside the timing

    res_g, t_gl_grid = timed(gc.check_codes, grids, log_summary=False)
    as_list = grids.tolist()  # the baseline iterates a list of str; its conversion is not timed
    r_g, t_py_grid = timed(baseline_grid, as_list, counties)
    res_c, t_gl_comp = timed(gc.check_codes, comps, kind="component", log_summary=False)
    comp_list = comps.tolist()
    r_c, t_py_comp = timed(baseline_component, comp_list, counties, classes)

    agree_g = float(np.mean(res_g.valid.to_numpy() == (np.array(r_g) == "")))
    agree_c = float(np.mean(res_c.valid.to_numpy() == (np.array(r_c) == "")))
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"validating {n:,} codes (best of 3 calls each, same process)")
    print(f"  grid codes:     gridlib {t_gl_grid:6.3f} s   python regex loop {t_py_grid:6.3f} s   "
          f"ratio {t_py_grid / t_gl_grid:5.1f}x   valid {res_g.valid.mean():.3f}   agreement {agree_g:.4f}")
    print(f"  component ids:  gridlib {t_gl_comp:6.3f} s   python regex loop {t_py_comp:6.3f} s   "
          f"ratio {t_py_comp / t_gl_comp:5.1f}x   valid {res_c.valid.mean():.3f}   agreement {agree_c:.4f}")
    print(f"  peak memory (max RSS of this process): {peak_mb:.0f} MB")
    out = Path(__file__).resolve().parent / "results"
    out.mkdir(exist_ok=True)
    record = {
        "bench": "codes", "n": n, "when": time.strftime("%Y-%m-%dT%H:%M:%S"),
        "grid_gridlib_s": round(t_gl_grid, 4), "grid_python_s": round(t_py_grid, 4),
        "grid_ratio": round(t_py_grid / t_gl_grid, 2), "grid_agreement": agree_g,
        "component_gridlib_s": round(t_gl_comp, 4), "component_python_s": round(t_py_comp, 4),
        "component_ratio": round(t_py_comp / t_gl_comp, 2), "component_agreement": agree_c,
        "peak_rss_mb": round(peak_mb),
    }
    with open(out / "bench_codes.jsonl", "a", encoding="utf-8") as f:
        f.write(json.dumps(record) + "\n")


if __name__ == "__main__":
    main()
