"""``pagestream vacuum DIR``: remove files of crashed attempts (``transforms/write/vacuum.py``).

Only files no manifest lists, of runs no live process holds, older than ``--grace`` seconds (or
of a run whose holder died) are removed; committed runs are never touched.
"""

from __future__ import annotations

import argparse
import os
import sys

__all__ = ["add_arguments", "main"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from pagestream.transforms.write.vacuum import DEFAULT_GRACE_S

    parser.add_argument("dir", help="output directory of pagestream run")
    parser.add_argument(
        "--grace", type=float, default=DEFAULT_GRACE_S, metavar="S",
        help=f"keep unlisted files younger than this many seconds (default {DEFAULT_GRACE_S:g})",
    )  # fmt: skip
    parser.add_argument("--dry_run", action="store_true", help="list what would go, remove nothing")


def main(args: argparse.Namespace) -> int:
    from pagestream.transforms.write.vacuum import vacuum

    if args.grace < 0:
        print(f"pagestream vacuum: --grace must be >= 0, got {args.grace:g}", file=sys.stderr)
        return 2
    if not os.path.isdir(args.dir) and "://" not in args.dir:
        print(f"pagestream vacuum: no such output directory: {args.dir}", file=sys.stderr)
        return 2
    # The grace given applies to the finished waves of dead runs too (resumable staging).
    found = vacuum(args.dir, grace_s=args.grace, dry_run=args.dry_run, resumable_s=args.grace)
    verb = "would remove" if args.dry_run else "removed"
    for path in [*found.files, *found.staging, *found.leases]:
        print(f"{verb} {path}")
    print(
        f"pagestream vacuum: {verb} {len(found.files)} orphan file(s), "
        f"{len(found.staging)} staging dir(s), {len(found.leases)} stale lease(s)",
        file=sys.stderr,
    )
    return 0
