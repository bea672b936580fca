"""Records flowing through the graph and the pyarrow schemas of the tables pagestream writes."""

from pagestream.schemas.arrow import (
    DEAD_LETTER_SCHEMA,
    PAGES_PARTITIONING,
    PAGES_SCHEMA,
    REJECTED_SCHEMA,
)
from pagestream.schemas.records import KIND_DEAD, KIND_PAGE, KIND_RAW, KIND_REJECTED, Page, RawPage

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
