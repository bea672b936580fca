"""Two pagestream installs on the same pages, alternating, next to the hand-written loop.

    python benchmarks/bench_ab.py --baseline-python OTHER/venv/bin/python [--pages 400]
        [--repeats 3] [--json OUT.json] [--pipeline-arg=--flag ...]

What a change costs or buys: ``pagestream run`` (DirectRunner, one worker, all stages) with
this interpreter's pagestream (``new``) and with the one of ``--baseline-python`` (``base``,
e.g. a venv with the previous commit installed), and ``hand_loop.py`` (``loop``), in rotating
order in every repeat on the corpus of ``common.build_corpus``. Reports median wall seconds,
docs/s and CPU seconds per variant, ``new / base`` wall and CPU, and loop wall / pipeline wall
for each (``speed_ratio``, as ``bench_speed.py``).
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_speed import loop_command, pipeline_command  # noqa: E402
from common import PYTHON, build_corpus, load_average, machine_info, median, run_measured  # noqa: E402


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--baseline-python", required=True)
    parser.add_argument("--pages", type=int, default=400)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--json", type=Path)
    parser.add_argument("--pipeline-arg", action="append", default=[])
    args = parser.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="pagestream-ab-"))
    files = build_corpus(work / "corpus", args.pages)
    variants = ["new", "base", "loop"]
    runs: dict[str, list[dict]] = {name: [] for name in variants}
    try:
        for rep in range(args.repeats):
            for name in variants[rep % 3 :] + variants[: rep % 3]:
                out = work / f"{name}-{rep}"
                if name == "loop":
                    command = loop_command(files, out.with_suffix(".parquet"))
                else:
                    command = pipeline_command(files, out, f"r{rep}", args.pipeline_arg)
                    command[0] = PYTHON if name == "new" else args.baseline_python
                measured = run_measured(command)
                if not measured.ok:
                    raise SystemExit(f"{name} failed: {measured.returncodes}")
                record = {"wall_s": round(measured.wall_s, 2), "cpu_s": round(measured.cpu_s, 2),
                          "load": measured.load}  # fmt: skip
                runs[name].append(record)
                print(f"[rep {rep}] {name}: {record}", flush=True)
                shutil.rmtree(out, ignore_errors=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    wall = {name: median([r["wall_s"] for r in runs[name]]) for name in variants}
    cpu = {name: median([r["cpu_s"] for r in runs[name]]) for name in variants}
    result = {
        "machine": machine_info(),
        "pages": args.pages,
        "repeats": args.repeats,
        "load_end": load_average(),
        "wall_s": wall,
        "cpu_s": cpu,
        "docs_per_s": {name: round(args.pages / wall[name], 2) for name in variants},
        "new_over_base": {
            "wall": round(wall["new"] / wall["base"], 3),
            "cpu": round(cpu["new"] / cpu["base"], 3),
        },  # fmt: skip
        "speed_ratio": {name: round(wall["loop"] / wall[name], 3) for name in ("new", "base")},
        "runs": runs,
    }
    print(json.dumps({k: v for k, v in result.items() if k not in ("runs", "machine")}, indent=1))
    if args.json:
        args.json.write_text(json.dumps(result, indent=1))
    return result


if __name__ == "__main__":
    main()
