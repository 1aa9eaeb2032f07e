"""Unit grids (万米单元网格): the GridSet model, generation, validation, diff, editions and topology.

>>> import gridlib as gl
>>> callable(gl.grid.build) and callable(gl.grid.validate)
True
"""

from gridlib.grid.build import build, node_coverage, polsby_popper, union_coverage
from gridlib.grid.diff import crosswalk, diff
from gridlib.grid.edition import ImportResult, editions, import_edition, read_grids, write_edition
from gridlib.grid.model import GridSet, parents_from_grids
from gridlib.grid.topology import Topology, topology
from gridlib.grid.validate import validate

__all__ = [
    "GridSet", "ImportResult", "build", "crosswalk", "diff", "editions", "import_edition", "node_coverage",
    "parents_from_grids", "polsby_popper", "read_grids", "Topology", "topology", "union_coverage", "validate",
    "write_edition",
]
