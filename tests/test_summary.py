"""The summary ``pagestream run`` prints after a committed run: counts and plurals."""

from __future__ import annotations

import io

import pytest

from pagestream.cli import print_summary


def _manifest(files: int) -> dict:
    return {
        "run_id": "r1",
        "options": {"output": "out"},
        "inputs": {"files": files, "bytes": 3_700_000},
        "counts": {"records_read": 170, "pages": 103, "rejected": 67, "dead_letter": 0},
        "reasons": [{"table": "rejected", "stage": "read", "reason": "http_status", "count": 67}],
        "languages": {"en": 100, "de": 3},
        "dup_status": {"unique": 100, "near": 3},
        "topics": {"sport": 4},
    }


@pytest.mark.parametrize("files, said", [(1, "1 file"), (2, "2 files"), (0, "0 files")])
def test_first_line_counts_files_in_words(files, said):
    out = io.StringIO()
    print_summary(_manifest(files), 10.0, out)
    first = out.getvalue().splitlines()[0]
    assert first.startswith("pagestream run r1 ")
    assert first.endswith(f" records/s, {said}, 3.7 MB)")


def test_summary_lines():
    out = io.StringIO()
    print_summary(_manifest(1), 10.0, out)
    assert out.getvalue().splitlines()[1:8] == [
        "  records read   170",
        "  pages written  103",
        "  rejected       67",
        "  dead letters   0",
        "    rejected     read/http_status: 67",
        "  languages      en 100, de 3",
        "  duplicates     near 3",
    ]
