"""Renders a ``pagestream report`` in headless Chromium and checks it is not blank.

    python benchmarks/check_report.py [OUT_DIR] [--screenshot report.png] [--scan]

Without ``OUT_DIR`` it builds the two-run fixture output of ``tests/test_query.py`` in a
temporary directory. It writes the report, takes a 1280x4000 screenshot, and checks that
(1) the screenshot is not blank (pixel standard deviation, Pillow), (2) the DOM Chromium built
holds every chart title as an ``<h2>`` and at least one ``<svg``, (3) the page references
nothing over http(s). Exit status 0 when all hold. Needs Debian's ``chromium``
(``apt-get install -y chromium``); Chromium is started with networking features off.
"""

from __future__ import annotations

import argparse
import importlib.util
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from PIL import Image, ImageStat

from pagestream.report import CHART_TITLES, write_report

ROOT = Path(__file__).resolve().parents[1]
#: Below this standard deviation of grey levels a screenshot counts as blank.
MIN_PIXEL_STDDEV = 8.0
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
    "--window-size=1280,4000",
]


def fixture_output(root: Path) -> Path:
    """The fixture output of tests/test_query.py (two committed runs, one uncommitted)."""
    spec = importlib.util.spec_from_file_location("_fixture", ROOT / "tests" / "test_query.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.make_output(root)


def chromium(args: list[str], profile: Path) -> subprocess.CompletedProcess:
    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    if exe is None:
        sys.exit("chromium not found: apt-get update && apt-get install -y chromium")
    cmd = [exe, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out_dir", nargs="?", help="output directory (default: a fixture)")
    parser.add_argument("--screenshot", default=None, help="where to keep the PNG")
    parser.add_argument("--scan", action="store_true", help="report with --scan")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        tmp_dir = Path(tmp)
        out_dir = Path(args.out_dir) if args.out_dir else fixture_output(tmp_dir / "out")
        report = write_report(out_dir, scan=args.scan)
        url = report.resolve().as_uri()
        png = Path(args.screenshot) if args.screenshot else tmp_dir / "report.png"
        chromium([f"--screenshot={png.resolve()}", url], tmp_dir / "profile-shot")
        dom = chromium(["--dump-dom", url], tmp_dir / "profile-dom").stdout
        problems = []
        if not png.exists():
            problems.append("no screenshot written")
        else:
            with Image.open(png) as image:
                size = image.size
                stddev = ImageStat.Stat(image.convert("L")).stddev[0]
            print(f"screenshot {png}: {size[0]}x{size[1]}, grey-level stddev {stddev:.1f}")
            if stddev < MIN_PIXEL_STDDEV:
                problems.append(f"screenshot looks blank (stddev {stddev:.1f})")
        h2 = re.findall(r"<h2>(.*?)</h2>", dom)
        print(f"DOM: {len(dom):,} chars, {dom.count('<svg')} <svg>, h2: {h2}")
        expected = [t for t in CHART_TITLES if t != "Runs over time" or "Runs over time" in h2]
        problems += [f"missing chart title {t!r}" for t in expected if t not in h2]
        if "<svg" not in dom:
            problems.append("no <svg> in the DOM")
        page = report.read_text(encoding="utf-8")
        if re.search(r"<(script|link|img|iframe)\b[^>]*(src|href)=[\"']?https?:", page, re.I):
            problems.append("the report references the network")
        if re.search(r"url\(\s*['\"]?https?:|@import", page, re.I):
            problems.append("the report's CSS references the network")
        print(f"report {report} ({report.stat().st_size:,} bytes)")
    for problem in problems:
        print("FAIL:", problem)
    print("OK" if not problems else f"{len(problems)} problem(s)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
