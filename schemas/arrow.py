"""Hand-written pyarrow schemas of the three tables (INTERFACE.md is the contract).

``crawl_date`` and ``language`` are the Hive partition keys of ``pages``: they live in the
directory names, not in the files; read them back with ``PAGES_PARTITIONING``.
"""

from __future__ import annotations

import pyarrow as pa

from pagestream import SCHEMA_VERSION

__all__ = [
    "DEAD_LETTER_SCHEMA",
    "PAGES_PARTITIONING",
    "PAGES_SCHEMA",
    "PARTITION_COLUMNS",
    "REJECTED_SCHEMA",
    "SCHEMA_METADATA",
]

SCHEMA_METADATA = {b"pagestream.schema_version": SCHEMA_VERSION.encode()}

PARTITION_COLUMNS = ("crawl_date", "language")

PAGES_PARTITIONING = pa.schema([("crawl_date", pa.date32()), ("language", pa.string())])

PAGES_SCHEMA = pa.schema(
    [
        ("doc_id", pa.string()),
        ("url", pa.string()),
        ("domain", pa.string()),
        ("http_status", pa.int32()),
        ("source", pa.string()),
        ("fetch_time", pa.timestamp("us", tz="UTC")),
        ("title", pa.string()),
        ("author", pa.string()),
        ("published_date", pa.date32()),
        ("text", pa.string()),
        ("word_count", pa.int32()),
        ("language_score", pa.float32()),
        ("content_hash", pa.string()),
        ("dup_status", pa.string()),
        ("dup_of", pa.string()),
        ("dup_similarity", pa.float32()),
        ("dup_run", pa.string()),
        ("topics", pa.list_(pa.string())),
        ("topic_scores", pa.list_(pa.float32())),
        ("mean_word_length", pa.float32()),
        ("symbol_word_ratio", pa.float32()),
        ("bullet_line_frac", pa.float32()),
        ("ellipsis_line_frac", pa.float32()),
        ("alpha_word_frac", pa.float32()),
        ("stop_word_count", pa.int32()),
        ("terminal_punct_line_frac", pa.float32()),
        ("dup_line_frac", pa.float32()),
        ("dup_line_char_frac", pa.float32()),
        ("dup_para_frac", pa.float32()),
        ("dup_para_char_frac", pa.float32()),
        ("top_2gram_char_frac", pa.float32()),
        ("top_3gram_char_frac", pa.float32()),
        ("top_4gram_char_frac", pa.float32()),
        ("dup_5gram_char_frac", pa.float32()),
        ("dup_6gram_char_frac", pa.float32()),
        ("dup_7gram_char_frac", pa.float32()),
        ("dup_8gram_char_frac", pa.float32()),
        ("dup_9gram_char_frac", pa.float32()),
        ("dup_10gram_char_frac", pa.float32()),
        ("quality_flags", pa.list_(pa.string())),
        ("extractor", pa.string()),
        ("run_id", pa.string()),
        ("pipeline_version", pa.string()),
    ],
    metadata=SCHEMA_METADATA,
)

REJECTED_SCHEMA = pa.schema(
    [
        ("url", pa.string()),
        ("source", pa.string()),
        ("stage", pa.string()),
        ("reason", pa.string()),
        ("doc_id", pa.string()),
        ("language", pa.string()),
        ("word_count", pa.int32()),
        ("run_id", pa.string()),
    ],
    metadata=SCHEMA_METADATA,
)

DEAD_LETTER_SCHEMA = pa.schema(
    [
        ("url", pa.string()),
        ("source", pa.string()),
        ("excerpt", pa.string()),
        ("stage", pa.string()),
        ("reason", pa.string()),
        ("error", pa.string()),
        ("traceback", pa.string()),
        ("run_id", pa.string()),
    ],
    metadata=SCHEMA_METADATA,
)
