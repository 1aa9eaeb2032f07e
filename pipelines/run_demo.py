"""The README's main job: the nightly run over the bundled demo data on a GeoPackage store.

    python pipelines/run_demo.py --out demo-out --date 2026-11-21

1. generates the seeded synthetic demo data (cases, trucks, cameras, team bases) over the real
   Shanghai Lujiazui geometry into OUT/input/ (once; reused afterwards),
2. builds the GeoPackage store OUT/store.gpkg from it and the bundled unit grids (once),
3. runs the nightly pipeline for DATE into OUT/products/DATE/ and prints where everything is.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from gridlib.cli import main as cli


def run(out: Path, date: str, seed: int) -> int:
    inputs, store = out / "input", out / "store.gpkg"
    if not (inputs / "README.txt").exists():
        code = cli(["demo-data", "--out", str(inputs), "--seed", str(seed)])
        if code:
            return code
    if not store.exists():
        import gridlib as gl

        gl.nightly.load_demo_store(gl.store.open(store), inputs)
    code = cli(["nightly", "--store", str(store), "--date", date, "--out", str(out / "products")])
    if code:
        return code
    products = (out / "products" / date).absolute()
    print(f"\ndemo inputs:   {inputs.absolute()}\nstore:         {store.absolute()}\nproducts:      {products}")
    for name in ("index.html", "webmap.html", "responsibility_map.gpkg", "maps/overview.png", "kpi", "manifest.json"):
        print(f"  {products / name}")
    return 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=Path("demo-out"))
    parser.add_argument("--date", default="2026-11-21")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    sys.exit(run(args.out, args.date, args.seed))
