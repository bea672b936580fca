"""``pagestream compact DIR --before YYYY-MM-DD``: merge the small files of settled runs.

Rewrites the files of the committed runs dated before ``--before`` (and earlier compactions),
partition by partition, into files of up to ``--target_mb``; committed through the manifest
protocol (``transforms/write/compact.py``), so readers never see a run twice or half. Use it
when many small runs (schedules, streaming micro-batches) have left many small files; a
compacted run cannot be rerun, so choose ``--before`` outside your rerun window.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys

__all__ = ["add_arguments", "main"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("dir", help="output directory of pagestream run")
    parser.add_argument(
        "--before", required=True, metavar="YYYY-MM-DD",
        help="compact runs whose logical date is before this date",
    )  # fmt: skip
    parser.add_argument(
        "--target_mb", type=int, default=512, metavar="MB",
        help="approximate size of a compacted file before compression (default 512)",
    )  # fmt: skip


def main(args: argparse.Namespace) -> int:
    from pagestream.transforms.write.compact import compact
    from pagestream.transforms.write.lease import LeaseHeld

    try:
        before = dt.date.fromisoformat(args.before).isoformat()
    except ValueError:
        print(f"pagestream compact: --before must be a date YYYY-MM-DD, got {args.before!r}", file=sys.stderr)  # fmt: skip
        return 2
    if not 1 <= args.target_mb <= 16384:
        print(f"pagestream compact: --target_mb must be from 1 to 16384, got {args.target_mb}", file=sys.stderr)  # fmt: skip
        return 2
    try:
        manifest = compact(args.dir, before, target_file_bytes=args.target_mb * 1024**2)
    except LeaseHeld as exc:
        print(f"pagestream compact: {exc}", file=sys.stderr)
        return 2
    if manifest is None:
        print("pagestream compact: nothing to compact (at most one file per partition)", file=sys.stderr)  # fmt: skip
        return 0
    files = sum(len(v) for v in manifest["files"].values())
    print(
        f"pagestream compact: compaction {manifest['id']}: {len(manifest['absorbs'])} runs "
        f"now in {files} files",
        file=sys.stderr,
    )
    return 0
