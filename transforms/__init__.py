"""Public Beam composites of pagestream; build your own graph from them.

One sub-package per stage, each exporting its composite and its config::

    read/      ReadPages, expand_inputs            files -> RawPage
    extract/   ExtractText, TextConfig             RawPage -> Page (trafilatura / line cleaner)
    clean/     clean_text, SiteStats               plain-text line rules, lines a site repeats
    language/  DetectLanguage, LanguageConfig      Page.language, Page.language_score
    quality/   ScoreQuality, QualityConfig         quality signal columns, Page.quality_flags
    dedup/     MarkDuplicates, DedupConfig         Page.dup_status, Page.dup_of
    topics/    TagTopics, TopicConfig              Page.topics
    write/     WritePartitionedParquet, RunStats, CommitRun

Each composite documents its input and output record types (``pagestream.schemas.records``).
Rejected and dead records travel in the same PCollection with ``kind`` set: filter on it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pagestream.transforms.lazy import lazy_exports

if TYPE_CHECKING:
    from pagestream.transforms.dedup import DedupConfig, MarkDuplicates
    from pagestream.transforms.extract import ExtractText, TextConfig
    from pagestream.transforms.language import DetectLanguage, LanguageConfig
    from pagestream.transforms.quality import QualityConfig, ScoreQuality
    from pagestream.transforms.read import ReadPages, expand_inputs
    from pagestream.transforms.topics import TagTopics, TopicConfig
    from pagestream.transforms.write import (
        CommitRun,
        RunStats,
        WriteConfig,
        WritePartitionedParquet,
    )

# Exported lazily (see ``lazy.py``): importing one module does not import every stage.
_EXPORTS = {
    "CommitRun": "pagestream.transforms.write",
    "DedupConfig": "pagestream.transforms.dedup",
    "DetectLanguage": "pagestream.transforms.language",
    "ExtractText": "pagestream.transforms.extract",
    "LanguageConfig": "pagestream.transforms.language",
    "MarkDuplicates": "pagestream.transforms.dedup",
    "QualityConfig": "pagestream.transforms.quality",
    "ReadPages": "pagestream.transforms.read",
    "RunStats": "pagestream.transforms.write",
    "ScoreQuality": "pagestream.transforms.quality",
    "TagTopics": "pagestream.transforms.topics",
    "TextConfig": "pagestream.transforms.extract",
    "TopicConfig": "pagestream.transforms.topics",
    "WriteConfig": "pagestream.transforms.write",
    "WritePartitionedParquet": "pagestream.transforms.write",
    "expand_inputs": "pagestream.transforms.read",
}

__all__ = [
    "CommitRun",
    "DedupConfig",
    "DetectLanguage",
    "ExtractText",
    "LanguageConfig",
    "MarkDuplicates",
    "QualityConfig",
    "ReadPages",
    "RunStats",
    "ScoreQuality",
    "TagTopics",
    "TextConfig",
    "TopicConfig",
    "WriteConfig",
    "WritePartitionedParquet",
    "expand_inputs",
]
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
