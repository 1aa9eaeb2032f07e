"""Maps shared by gridlib's products: static PNG (matplotlib) and interactive HTML (pydeck).

``gridlib.maps.static`` draws metric-CRS maps with Chinese labels, scale bar, north arrow and
attribution, saved as reproducible PNGs; ``gridlib.maps.deck`` builds pydeck layers and writes
self-contained HTML pages that work offline. Both modules' public names are re-exported here.

>>> from gridlib import maps
>>> callable(maps.new_map) and callable(maps.to_html)
True
"""

from __future__ import annotations

from gridlib.maps import deck, static
from gridlib.maps.deck import *  # noqa: F403
from gridlib.maps.static import *  # noqa: F403

__all__ = ["deck", "static", *static.__all__, *deck.__all__]
