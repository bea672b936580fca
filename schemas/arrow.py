"""Hand-written pyarrow schemas of the three tables (INTERFACE.md is the contract).

``crawl_date`` and ``language`` are the Hive partition keys of ``pages``: they live in the
directory names, not in the files; read them back with ``PAGES_PARTITIONING``.

Fields that are never null are declared ``nullable=False`` (``doc_id``, ``url``, ``text``,
``run_id`` of ``pages``): readers can rely on it, and a writer that had a null there fails
instead of writing it. Files are sorted by ``doc_id`` (nulls first) where the table has one;
:func:`sorting_columns` is what the writer declares in each row group's metadata.
"""

from __future__ import annotations

import pyarrow as pa
import pyarrow.parquet as pq

from pagestream import SCHEMA_VERSION

__all__ = [
    "DEAD_LETTER_SCHEMA",
    "PAGES_PARTITIONING",
    "PAGES_SCHEMA",
    "PARTITION_COLUMNS",
    "REJECTED_SCHEMA",
    "SCHEMA_METADATA",
    "SORT_COLUMN",
    "sorting_columns",
]

SCHEMA_METADATA = {b"pagestream.schema_version": SCHEMA_VERSION.encode()}

PARTITION_COLUMNS = ("crawl_date", "language")

PAGES_PARTITIONING = pa.schema([("crawl_date", pa.date32()), ("language", pa.string())])

PAGES_SCHEMA = pa.schema(
    [
        pa.field("doc_id", pa.string(), nullable=False),
        pa.field("url", pa.string(), nullable=False),
        ("domain", pa.string()),
        ("http_status", pa.int32()),
        ("source", pa.string()),
        ("fetch_time", pa.timestamp("us", tz="UTC")),
        ("title", pa.string()),
        ("author", pa.string()),
        ("published_date", pa.date32()),
        pa.field("text", pa.string(), nullable=False),
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
        pa.field("run_id", pa.string(), nullable=False),
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

#: The column the rows of every file are sorted by (the writer sorts them; nulls first).
SORT_COLUMN = "doc_id"


def sorting_columns(schema: pa.Schema) -> list[pq.SortingColumn]:
    """The Parquet ``sorting_columns`` of a file of ``schema``: ``doc_id`` ascending, nulls
    first, when the schema has it (``pages``, ``rejected``); none otherwise (``dead_letter``)."""
    if SORT_COLUMN not in schema.names:
        return []
    return [pq.SortingColumn(schema.get_field_index(SORT_COLUMN), nulls_first=True)]
