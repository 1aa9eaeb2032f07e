"""Codes of digital urban management: grid codes, component identifiers, 事项 codes
and the component/event class catalogue of GB/T 47678.5-2026 and CJ/T 214-2007.

Pure: no geometry, no files other than the catalogue data shipped in ``data/``.

>>> import gridlib as gl
>>> gl.codes.GridCode.parse("410105001003007").street_type
'subdistrict'
"""

from gridlib.codes.admin import county_name, divisions
from gridlib.codes.catalogue import (
    CLASS_DIGITS,
    DEFAULT_EDITION,
    EDITIONS,
    catalogue,
    clear_extensions,
    gaps,
    search,
)
from gridlib.codes.crosswalk import crosswalk, translate
from gridlib.codes.extensions import load_extensions
from gridlib.codes.mint import mint_component_ids
from gridlib.codes.query import lookup
from gridlib.codes.rules import edition_of_class, responsibility_rules, rule_of
from gridlib.codes.types import ComponentId, GridCode, MatterCode
from gridlib.codes.validate import (
    check_codes,
    normalize_class_code,
    split,
    street_type,
    validate,  # noqa: F401  (deprecated alias of check_codes, not in __all__)
    validate_codes,
)

__all__ = [
    "CLASS_DIGITS", "DEFAULT_EDITION", "EDITIONS", "ComponentId", "GridCode", "MatterCode",
    "catalogue", "clear_extensions", "county_name", "crosswalk", "divisions", "gaps",
    "load_extensions", "lookup", "mint_component_ids", "normalize_class_code",
    "responsibility_rules", "rule_of", "edition_of_class", "search", "split", "street_type", "translate", "check_codes",
    "validate_codes",
]
