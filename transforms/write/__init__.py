"""Writing the tables and committing a run.

- ``parquet``: ``WritePartitionedParquet``, zstd Parquet under the run's staging directory;
- ``rows``: one record to one row of its table (shared with the streaming writer);
- ``stats``: ``RunStats``, the run's counts computed as data;
- ``commit``: ``CommitRun``/``commit``, the manifest as the table's log (the commit point);
- ``files``: attempt-unique file names and listings; ``lease``: one writer per run id;
- ``vacuum``: orphans of crashed attempts removed; ``compact``: settled runs' files merged;
- ``progress``: heartbeat files the workers write, read by the progress display.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pagestream.transforms.lazy import lazy_exports

if TYPE_CHECKING:
    from pagestream.transforms.write.commit import CommitRun, read_manifest
    from pagestream.transforms.write.lease import Lease, run_lease
    from pagestream.transforms.write.parquet import WriteConfig, WritePartitionedParquet
    from pagestream.transforms.write.stats import RunStats

# Exported lazily (see ``lazy.py``): importing one module does not import every stage.
_EXPORTS = {
    "CommitRun": "pagestream.transforms.write.commit",
    "Lease": "pagestream.transforms.write.lease",
    "run_lease": "pagestream.transforms.write.lease",
    "RunStats": "pagestream.transforms.write.stats",
    "WriteConfig": "pagestream.transforms.write.parquet",
    "WritePartitionedParquet": "pagestream.transforms.write.parquet",
    "read_manifest": "pagestream.transforms.write.commit",
}

__all__ = [
    "CommitRun",
    "Lease",
    "RunStats",
    "WriteConfig",
    "WritePartitionedParquet",
    "read_manifest",
    "run_lease",
]
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
