"""Nightly responsibility-map run, for schedulers (cron, Airflow …).

    python pipelines/nightly.py --store STORE --date 2026-11-21 --out products/

Same as ``gridlib nightly``; exits non-zero with a one-line reason on failure.
"""

import sys

from gridlib.cli import main

if __name__ == "__main__":
    sys.exit(main(["nightly", *sys.argv[1:]]))
