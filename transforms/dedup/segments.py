"""The ``--state`` index segments: their Parquet schema, reading them, ``WriteIndexSegment``.

A segment file holds kept pages of one run's attempt (``STATE/index/run_id=<id>/attempt=<token>/
part-<shard>-of-<n>.parquet``); ``state.py`` commits attempts and lists the committed runs.
"""

from __future__ import annotations

from collections.abc import Sequence

import apache_beam as beam
import pyarrow as pa
import pyarrow.parquet as pq
import xxhash
from apache_beam.io.filesystems import FileSystems

from pagestream.schemas.records import KIND_PAGE
from pagestream.transforms.dedup.fingerprint import (
    DedupConfig,
    Fingerprint,
    fingerprint_page,
    node_id,
)
from pagestream.transforms.dedup.minhash import fingerprint_tag
from pagestream.transforms.dedup.state import StateError, check_run_id, state_attempt_dir

__all__ = [
    "INDEX_SCHEMA",
    "WriteIndexSegment",
    "index_table",
    "read_index_segment",
]

INDEX_SCHEMA = pa.schema(
    [
        ("doc_id", pa.string()),
        ("source", pa.string()),
        ("run_id", pa.string()),
        ("fetch_time", pa.int64()),  # microseconds since the epoch, as in Page
        ("content_hash", pa.string()),
        ("norm_url", pa.string()),
        ("signature", pa.binary()),  # little-endian uint32[num_perm]
        ("band_keys", pa.list_(pa.string())),
        ("fingerprint_tag", pa.string()),
    ]
)


def read_index_segment(path: str, logical_date: str, config: DedupConfig) -> list[Fingerprint]:
    """The kept pages stored in one segment file, as ``Fingerprint(current=False)``.

    Signatures and band keys written with another fingerprint configuration are dropped
    (they are not comparable); such pages still match by content hash and URL.
    """
    with FileSystems.open(path) as f:
        data = pa.BufferReader(f.read())
    try:
        table = pq.read_table(data)
    except Exception as exc:
        raise StateError(f"--state: unreadable index segment {path} ({exc})") from None
    if not table.schema.remove_metadata().equals(INDEX_SCHEMA):
        raise StateError(f"--state: {path} is not an index segment; move it away")
    tag = fingerprint_tag(config)
    out = []
    for row in table.to_pylist():
        same = row["fingerprint_tag"] == tag
        out.append(
            Fingerprint(
                node=node_id(row["run_id"], row["doc_id"], row["source"]),
                doc_id=row["doc_id"],
                source=row["source"],
                run_id=row["run_id"],
                logical_date=logical_date,
                fetch_time=row["fetch_time"],
                content_hash=row["content_hash"],
                norm_url=row["norm_url"],
                signature=row["signature"] if same else b"",
                band_keys=row["band_keys"] if same else [],
                current=False,
            )
        )
    return out


def index_table(fingerprints: Sequence[Fingerprint], tag: str) -> pa.Table:
    """The segment table of ``fingerprints``, rows sorted by node (deterministic files)."""
    rows = sorted(fingerprints, key=lambda fp: fp.node)
    columns = {name: [getattr(fp, name) for fp in rows] for name in INDEX_SCHEMA.names[:-1]}
    columns["band_keys"] = [list(fp.band_keys) for fp in rows]
    columns["fingerprint_tag"] = [tag] * len(rows)
    return pa.Table.from_pydict(columns, schema=INDEX_SCHEMA)


def _write_shard(element, directory: str, shards: int, tag: str, prefix: str = "") -> str:
    shard, fingerprints = element
    path = FileSystems.join(directory, f"part-{prefix}{shard:05d}-of-{shards:05d}.parquet")
    with FileSystems.create(path) as f:
        pq.write_table(index_table(list(fingerprints), tag), f, compression="zstd")
    return path


class WriteIndexSegment(beam.PTransform):
    """``PCollection[Page]`` (after ``MarkDuplicates``) -> ``PCollection[str]`` written paths.

    Writes the kept pages (``kind == "page"``, ``dup_status == "unique"``) of this run to
    ``STATE/index/run_id=<run_id>/attempt=<attempt>/``, hashed by record into at most
    ``config.index_shards`` files; the same input gives the same rows in the same files.
    Nothing becomes visible to other runs before ``commit_run``.

    A wave of a run (``pipelines.waves``) names its files ``part-w<wave>-<shard>-of-<n>``
    (``prefix``) in the same attempt directory, or in ``directory`` (the run's staging) when
    the run has no ``--state``: the later waves read them.
    """

    def __init__(
        self,
        state_dir: str | None,
        run_id: str,
        attempt: str | None,
        config: DedupConfig,
        prefix: str = "",
        directory: str | None = None,
    ) -> None:
        super().__init__()
        check_run_id(run_id)
        self._dir = directory or state_attempt_dir(state_dir, run_id, attempt)
        self._config, self._prefix = config, prefix

    def expand(self, pages):
        config, directory, prefix = self._config, self._dir, self._prefix
        shards, tag = config.index_shards, fingerprint_tag(config)
        return (
            pages
            | "Kept" >> beam.Filter(lambda p: p.kind == KIND_PAGE and p.dup_status == "unique")
            | "Fingerprint" >> beam.Map(lambda p: fingerprint_page(p, config, ""))
            | "Shard"
            >> beam.Map(lambda fp: (xxhash.xxh3_64_intdigest(fp.node.encode()) % shards, fp))
            | "GroupShard" >> beam.GroupByKey()
            | "WriteShard" >> beam.Map(_write_shard, directory, shards, tag, prefix)
        )
