"""Progress of a run: the readers' byte counts move with every record (JSON Lines included),
and the display's share done and ETA follow the work. No clock: elapsed times are given."""

from __future__ import annotations

import gzip
import json
import random
import string
from collections import Counter
from pathlib import Path

import pytest

from pagestream.progress_display import EtaEstimator, describe, done_share
from pagestream.transforms.read.inputs import InputFile
from pagestream.transforms.read.pages import ReadRecordsFn
from pagestream.transforms.write.progress import Heartbeat, read_progress

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"


def _jsonl_gz(path: Path, records: int) -> Path:
    """``records`` pages of incompressible-ish text, so the gzip file is many read buffers."""
    rng = random.Random(7)
    with gzip.open(path, "wt", encoding="utf-8") as handle:
        for i in range(records):
            text = "".join(rng.choices(string.ascii_letters + " ", k=3000))
            handle.write(json.dumps({"url": f"https://a.example/{i}", "text": text}) + "\n")
    return path


def _bytes_after_each_record(file: InputFile) -> tuple[list[int], int]:
    fn = ReadRecordsFn(progress_dir=None)
    fn.setup()
    seen = []
    for _ in fn.process(file):
        seen.append(fn.heartbeat.counts["bytes"])
    return seen, fn.heartbeat.counts["bytes"]


def test_jsonl_gz_bytes_move_with_the_records(tmp_path):
    path = _jsonl_gz(tmp_path / "pages.jsonl.gz", 400)
    size = path.stat().st_size
    assert size > 800_000  # several of gzip's 128 KB reads
    seen, final = _bytes_after_each_record(InputFile(str(path), size, "jsonl"))
    assert len(seen) == 400 and final == size
    assert seen == sorted(seen)
    # Half the records read is about half the file, not nothing (bytes used to come at the end).
    assert 0.3 * size < seen[199] < 0.7 * size
    assert 0.0 < seen[39] < 0.25 * size
    assert len(set(seen)) > 5


def test_split_file_parts_add_up_to_the_file(tmp_path):
    path = _jsonl_gz(tmp_path / "pages.jsonl.gz", 200)
    size = path.stat().st_size
    finals, middles = [], []
    for part in range(2):
        seen, final = _bytes_after_each_record(InputFile(str(path), size, "jsonl", None, part, 2))
        finals.append(final)
        middles.append(seen[len(seen) // 2])
    assert sum(finals) == size
    assert all(0.25 * f < m < 0.75 * f for m, f in zip(middles, finals, strict=True))


def test_warc_bytes_move_with_the_records():
    warc = SHARED / "warc" / "example.warc.gz"
    if not warc.exists():
        pytest.skip("development data not found")
    size = warc.stat().st_size
    seen, final = _bytes_after_each_record(InputFile(str(warc), size, "warc"))
    assert final == size and seen == sorted(seen)
    assert 0.2 * size < seen[len(seen) // 2] < 0.8 * size


def test_heartbeat_files_sum_up(tmp_path):
    beats = [Heartbeat(str(tmp_path), "read", interval=0.0) for _ in range(2)]
    beats[0].add("records", 3)
    beats[1].add("records", 4)
    beats[1].add("bytes", 100)
    assert read_progress(str(tmp_path)) == Counter(records=7, bytes=100)


@pytest.mark.parametrize(
    "counts, total, share",
    [
        (Counter(), 1000, 0.0),
        (Counter(records=10, bytes=250, extracted=10), 1000, 0.25),  # read with extraction
        (Counter(records=100, bytes=1000, extracted=25), 1000, 0.25),  # read ran ahead
        (Counter(records=100, bytes=1200, extracted=100), 1000, 1.0),  # capped
    ],
)
def test_done_share(counts, total, share):
    assert done_share(counts, total) == pytest.approx(share)


def test_eta_converges_on_a_steady_run():
    """8 s of start-up, then 2 % of the work per second, heartbeats every 2 s, display every
    second: the ETA is the true time left (within the heartbeat lag), never climbs, ends at 0."""
    eta, shown = EtaEstimator(), []
    for second in range(0, 60):
        beat = second - second % 2  # what the last heartbeat said
        done = min(1.0, max(0.0, (beat - 8) * 0.02))
        left = eta.update(float(second), done)
        if left is not None:
            shown.append((second, left))
    assert shown[0][0] <= 12
    assert all(b[1] <= a[1] for a, b in zip(shown, shown[1:], strict=False))
    for second, left in shown:
        assert abs(left - max(0.0, 58 - second)) <= 2.0, (second, left)
    assert shown[-1][1] == 0.0


def test_eta_waits_for_work():
    eta = EtaEstimator()
    assert eta.update(3.0, 0.0) is None
    assert eta.update(4.0, 0.1) is None  # one sample: no rate yet
    assert eta.update(6.0, 0.3) == pytest.approx(2.0 * 0.7 / 0.2)


def test_describe_leads_with_pages_extracted():
    counts = Counter(records=1200, bytes=40_100_000, extracted=900, files=3)
    line = describe(counts, 120_000_000, 10.0, eta=71.0)
    assert line == (
        "extracted 900 pages (25%) · 90.0 pages/s · read 1,200 records, 40.1/120.0 MB · ETA 1:11"
    )
    done = Counter(records=5, bytes=10, extracted=5)
    assert describe(done, 10, 1.0, eta=0.0) == (
        "extracted 5 pages (100%) · 5.0 pages/s · read 5 records, 0.0/0.0 MB"
        " · finishing: duplicates, topics, writing"
    )
