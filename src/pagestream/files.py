"""``pagestream files DIR``: the committed files, one path a line, for readers that glob.

A raw glob over ``DIR/pages`` can see files of a run being committed or left by a crashed
attempt; this lists exactly the files the manifests commit (``query.committed_files``)::

    duckdb -c "SELECT count(*) FROM read_parquet([$(pagestream files out | sed "s/.*/'&'/" | paste -sd,)])"
"""

from __future__ import annotations

import argparse
import sys

__all__ = ["add_arguments", "main"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from pagestream.query import TABLES

    parser.add_argument("dir", help="output directory of pagestream run")
    parser.add_argument("--table", choices=TABLES, default="pages", help="which table's files")
    parser.add_argument("--run_id", default=None, help="only this run's files")


def main(args: argparse.Namespace) -> int:
    from pagestream.query import QueryError, committed_files

    try:
        paths = committed_files(args.dir, args.table, args.run_id)
    except QueryError as exc:
        print(f"pagestream files: error: {exc}", file=sys.stderr)
        return 1
    try:
        sys.stdout.write("".join(f"{path}\n" for path in paths))
        sys.stdout.flush()
    except BrokenPipeError:
        pass
    return 0
