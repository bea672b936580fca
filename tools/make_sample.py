"""Rebuilds the sample bundled in the package (src/pagestream/sample) from ../shared/data.

Only data the project may redistribute goes in: the five seed scrapes and the Common Crawl
excerpt warc/warcfile.warc.gz (Apache-2.0 test data of chatnoir-resiliparse; Common Crawl
terms), plus a JSON Lines file and HTML files made from records of that WARC, so that
`pagestream run` shows every input format, and exact duplicates, on a fresh machine.

    python tools/make_sample.py [--shared ../shared/data]
"""

import argparse
import json
import pathlib
import shutil

from warcio.archiveiterator import ArchiveIterator

ROOT = pathlib.Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "src" / "pagestream" / "sample"
JSONL_URLS = (
    "http://0900-hovenier.nl/gelderland/oosterbeek/",
    "http://06.live-radsport.ch/fahrerstatistik_801/Anthony_Ravard.html",
    "http://01spb.ru/company/",
)
HTML_URL = "http://06.live-radsport.ch/tippspiel/stats_140_petzi.html"


def responses(warc: pathlib.Path):
    with warc.open("rb") as handle:
        for record in ArchiveIterator(handle):
            if record.rec_type == "response":
                url = record.rec_headers.get_header("WARC-Target-URI")
                date = record.rec_headers.get_header("WARC-Date")
                content_type = record.http_headers.get_header("Content-Type") or ""
                yield url, date, content_type, record.content_stream().read()


def decode(payload: bytes, content_type: str) -> str:
    charset = content_type.partition("charset=")[2].strip() or "utf-8"
    return payload.decode(charset, errors="replace")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", default=str(ROOT.parent / "shared" / "data"))
    shared = pathlib.Path(parser.parse_args().shared)
    if SAMPLE.exists():
        shutil.rmtree(SAMPLE)
    (SAMPLE / "seeds").mkdir(parents=True)
    (SAMPLE / "html").mkdir()
    for seed in sorted((shared / "seeds").glob("*.txt")):
        shutil.copyfile(seed, SAMPLE / "seeds" / seed.name)
    warc = shared / "warc" / "warcfile.warc.gz"
    shutil.copyfile(warc, SAMPLE / "cc-main-2020-34-excerpt.warc.gz")
    lines = []
    for url, date, content_type, payload in responses(warc):
        if url in JSONL_URLS:
            html = decode(payload, content_type)
            lines.append({"url": url, "html": html, "fetch_time": date})
        if url == HTML_URL:
            (SAMPLE / "html" / "live-radsport.ch.stats_140_petzi.html").write_bytes(payload)
    with (SAMPLE / "feed.jsonl").open("w", encoding="utf-8") as out:
        for line in sorted(lines, key=lambda item: item["url"]):
            out.write(json.dumps(line, ensure_ascii=False) + "\n")
    (SAMPLE / "_ABOUT.md").write_text(
        "# The pagestream sample\n\n"
        "- `seeds/`: five plain-text news scrapes (the project's seed data).\n"
        "- `cc-main-2020-34-excerpt.warc.gz`: 16 HTML responses from Common Crawl CC-MAIN-2020-34\n"
        "  (test data of github.com/chatnoir-eu/chatnoir-resiliparse, Apache-2.0; Common Crawl terms of use).\n"
        f"- `feed.jsonl`: {len(lines)} records copied from that WARC, as JSON Lines (`url`, `html`, `fetch_time`):\n"
        "  exact duplicates of WARC pages, so a run shows duplicate marking.\n"
        "- `html/`: one page of that WARC as an `.html` file (another duplicate).\n\n"
        "Names starting with `_` are ignored by readers. Rebuilt by `tools/make_sample.py`.\n",
        encoding="utf-8",
    )


if __name__ == "__main__":
    main()
