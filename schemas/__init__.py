"""Records flowing through the graph, the pyarrow schemas of the tables pagestream writes, and
the settings (kinds, ranges, defaults) every option and config is validated against.

The names below are exported lazily (PEP 562): importing ``pagestream.schemas.validation``
alone, as the extraction child does through ``ExtractConfig``, loads neither pyarrow nor Beam.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pagestream.schemas.arrow import (
        DEAD_LETTER_SCHEMA,
        PAGES_PARTITIONING,
        PAGES_SCHEMA,
        REJECTED_SCHEMA,
    )
    from pagestream.schemas.records import (
        KIND_DEAD,
        KIND_PAGE,
        KIND_RAW,
        KIND_REJECTED,
        Page,
        RawPage,
    )

_EXPORTS = {
    **dict.fromkeys(
        ("DEAD_LETTER_SCHEMA", "PAGES_PARTITIONING", "PAGES_SCHEMA", "REJECTED_SCHEMA"),
        "pagestream.schemas.arrow",
    ),
    **dict.fromkeys(
        ("KIND_DEAD", "KIND_PAGE", "KIND_RAW", "KIND_REJECTED", "Page", "RawPage"),
        "pagestream.schemas.records",
    ),
}

__all__ = [
    "DEAD_LETTER_SCHEMA",
    "KIND_DEAD",
    "KIND_PAGE",
    "KIND_RAW",
    "KIND_REJECTED",
    "PAGES_PARTITIONING",
    "PAGES_SCHEMA",
    "REJECTED_SCHEMA",
    "Page",
    "RawPage",
]


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(_EXPORTS[name]), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_EXPORTS])
