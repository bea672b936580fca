"""The streaming-runner graph (``transforms.streaming``) under ``TestStream``.

One pipeline run covers: one committed run per processing-time window, a duplicate of a page
of an earlier window (exact, and near), an in-window group re-pointed at the earlier page,
a late record committed as its own run (not replacing the window's run), and a remembered
page forgotten after its TTL.
"""

from __future__ import annotations

from pathlib import Path

import apache_beam as beam
import pytest
from apache_beam.options.pipeline_options import PipelineOptions, StandardOptions
from apache_beam.testing.test_stream import TestStream
from apache_beam.testing.util import assert_that, equal_to_per_window
from apache_beam.transforms.window import IntervalWindow, TimestampedValue

from pagestream.pipelines.streaming_graph import ProcessStream, StreamConfig, message_records
from pagestream.pipelines.streaming_runs import free_run_id, window_run_id
from pagestream.query import connect
from pagestream.schemas.records import KIND_DEAD, KIND_RAW, RawPage

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
W0, W1, W2 = (IntervalWindow(s, s + 10) for s in (0, 10, 20))


@pytest.mark.parametrize(
    ("field", "value"),
    [("window_s", 0.5), ("allowed_lateness_s", -1), ("dup_ttl_s", 5.0), ("max_per_key", 0)],
)
def test_stream_config_names_the_bad_field(field, value):
    with pytest.raises(ValueError, match=field):
        StreamConfig(**{"window_s": 10.0, field: value})


def test_window_run_ids_sort_in_window_order_and_late_runs_get_a_free_id(tmp_path):
    assert window_run_id("s", W1) == "s-19700101T000010Z"
    assert window_run_id("s", W0) < window_run_id("s", W1) < window_run_id("s", W2)
    (tmp_path / "_runs").mkdir()
    assert free_run_id(str(tmp_path), "r") == "r"
    (tmp_path / "_runs" / "r.json").write_text("{}")
    (tmp_path / "_runs" / "r-late1.json").write_text("{}")
    assert free_run_id(str(tmp_path), "r") == "r-late2"


def test_pubsub_messages_carry_records_or_file_paths(tmp_path):
    record = (
        b'{"url": "https://a.example/x", "text": "hello", "fetch_time": "2020-01-02T03:04:05Z"}'
    )
    (page,) = message_records(record, "m1")
    assert (page.kind, page.url, page.text, page.source) == (
        KIND_RAW, "https://a.example/x", "hello", "pubsub#m1"
    )  # fmt: skip
    path = tmp_path / "feed.jsonl"
    path.write_text('{"url": "u1", "text": "a"}\n{"url": "u2", "html": "<p>b</p>"}\n')
    assert [p.url for p in message_records(str(path).encode(), "m2")] == ["u1", "u2"]
    (bad,) = message_records(b"not a path nor json", "m3")
    assert (bad.kind, bad.reason, bad.source) == (KIND_DEAD, "bad_message", "pubsub#m3")


def _raw(seed: str, host: str, extra: str = "") -> RawPage:
    return RawPage(KIND_RAW, f"https://{host}/story", f"/in/{host}.jsonl#1", text=seed + extra)


def test_windows_late_data_and_duplicates_across_windows(tmp_path):
    if not SHARED.is_dir():
        pytest.skip(f"development data not found at {SHARED}")
    seeds = [p.read_text(encoding="utf-8") for p in sorted((SHARED / "seeds").glob("*.txt"))]
    near = (
        "\n\nThe ministry said on Tuesday that further talks between the two delegations would be "
        "held next month in Geneva, and that both sides had agreed to publish a joint statement."
    )
    at = TimestampedValue
    stream = (
        TestStream()
        .advance_watermark_to(0)
        .add_elements([at(_raw(seeds[0], "a.example"), 1), at(_raw(seeds[1], "b.example"), 2)])
        .advance_watermark_to(12)
        # W1: two copies of a.example's page (one group in the window) and a new page.
        .add_elements(
            [
                at(_raw(seeds[0], "c.example"), 13),
                at(_raw(seeds[0], "g.example"), 14),
                at(_raw(seeds[2], "d.example"), 15),
            ]
        )  # fmt: skip
        .advance_watermark_to(22)
        # W2: a near copy of b.example's page; and a record late for W0 (within the lateness).
        .add_elements(
            [at(_raw(seeds[1], "n.example", near), 23), at(_raw(seeds[3], "e.example"), 5)]
        )
        .advance_watermark_to(200)
        # Long after the TTL (20 s) of a.example's page: a copy of it is unique again.
        .add_elements([at(_raw(seeds[0], "f.example"), 201)])
        .advance_watermark_to_infinity()
    )
    out = tmp_path / "out"
    options = PipelineOptions()
    options.view_as(StandardOptions).streaming = True
    config = StreamConfig(window_s=10, allowed_lateness_s=30, dup_ttl_s=20)
    with beam.Pipeline(options=options) as pipeline:
        manifests = pipeline | stream | ProcessStream(str(out), "s", config)
        assert_that(
            manifests | beam.Map(lambda m: (m["run_id"], m["counts"]["pages"])),
            equal_to_per_window({
                W0: [("s-19700101T000000Z", 2), ("s-19700101T000000Z-late1", 1)],
                W1: [("s-19700101T000010Z", 3)],
                W2: [("s-19700101T000020Z", 1)],
                IntervalWindow(200, 210): [("s-19700101T000320Z", 1)],
            }),
            use_global_window=False,
        )  # fmt: skip

    con = connect(out)
    rows = con.execute(
        "SELECT split_part(url, '/', 3), run_id, dup_status, dup_of, dup_run, doc_id FROM pages"
    ).fetchall()
    by_host = {r[0]: r[1:] for r in rows}
    a_doc = by_host["a.example"][4]
    b_doc = by_host["b.example"][4]
    assert {h: r[:4] for h, r in by_host.items()} == {
        "a.example": ("s-19700101T000000Z", "unique", None, None),
        "b.example": ("s-19700101T000000Z", "unique", None, None),
        "e.example": ("s-19700101T000000Z-late1", "unique", None, None),
        "c.example": ("s-19700101T000010Z", "exact", a_doc, "s-19700101T000000Z"),
        "g.example": ("s-19700101T000010Z", "exact", a_doc, "s-19700101T000000Z"),
        "d.example": ("s-19700101T000010Z", "unique", None, None),
        "n.example": ("s-19700101T000020Z", "near", b_doc, "s-19700101T000000Z"),
        "f.example": ("s-19700101T000320Z", "unique", None, None),
    }
    similarity = con.execute(
        "SELECT dup_similarity FROM pages WHERE url LIKE '%n.example%'"
    ).fetchone()[0]
    assert 0.7 <= similarity < 1.0
    runs = dict(con.execute("SELECT run_id, manifest->>'$.window.start' FROM runs").fetchall())
    assert runs["s-19700101T000000Z-late1"] == runs["s-19700101T000000Z"]
