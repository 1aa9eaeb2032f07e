"""The nightly responsibility-map pipeline (``gridlib nightly``).

>>> from gridlib.nightly import NightlyOptions
>>> NightlyOptions().hotspot_days
30
"""

from gridlib.nightly.demo_store import load_demo_store
from gridlib.nightly.model import Coverage, NightlyInputs, NightlyOptions, NightlyResults
from gridlib.nightly.pipeline import INPUT_LAYERS, run_nightly
from gridlib.nightly.schema import PERSONAL_COLUMNS, PRODUCT_COLUMNS, publishable

__all__ = ["run_nightly", "NightlyOptions", "NightlyInputs", "NightlyResults", "Coverage", "INPUT_LAYERS", "load_demo_store", "PRODUCT_COLUMNS",
           "PERSONAL_COLUMNS", "publishable"]
