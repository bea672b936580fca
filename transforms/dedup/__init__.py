"""Duplicate marking: ``MarkDuplicates`` (exact, URL, near and cross-run duplicates).

- ``fingerprint``: ``DedupConfig`` and a page's ``Fingerprint`` (``fingerprint_page``);
- ``normalise``: normalised text, content hash, URL key, shingles (pure functions);
- ``minhash``: MinHash signatures, LSH band keys, similarity estimates (pure functions);
- ``keep``: candidate edges, components and the keep rule (pure functions);
- ``mark``: the composite ``MarkDuplicates``;
- ``state``: the ``--state`` index of earlier runs: markers, commit, committed runs;
- ``segments``: its append-only segment files (schema, reading, ``WriteIndexSegment``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pagestream.transforms.lazy import lazy_exports

if TYPE_CHECKING:
    from pagestream.transforms.dedup.fingerprint import DedupConfig, fingerprint_page
    from pagestream.transforms.dedup.mark import MarkDuplicates
    from pagestream.transforms.dedup.segments import WriteIndexSegment

# Exported lazily (see ``lazy.py``): importing one module does not import every stage.
_EXPORTS = {
    "DedupConfig": "pagestream.transforms.dedup.fingerprint",
    "MarkDuplicates": "pagestream.transforms.dedup.mark",
    "WriteIndexSegment": "pagestream.transforms.dedup.segments",
    "fingerprint_page": "pagestream.transforms.dedup.fingerprint",
}

__all__ = [
    "DedupConfig",
    "MarkDuplicates",
    "WriteIndexSegment",
    "fingerprint_page",
]
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
