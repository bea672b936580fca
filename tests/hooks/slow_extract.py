"""Extraction functions the killable child runs in tests, instead of slow real pages: a test
injects them (``BoundedExtractor(config, extract=...)``), so no test depends on how long a page
takes. Importable by the child because the tests put this directory on ``sys.path``
(``slow_extract`` fixture), which the child inherits."""

from __future__ import annotations

import os
import time

from pagestream.transforms.extract.config import ExtractConfig, Extracted
from pagestream.transforms.extract.html import extract_html

HANG = "hang"  # a url containing this hangs until the child is killed
DIE = "die"  # a url containing this makes the child exit with status 3
FAIL = "fail"  # a url containing this raises ValueError in the child


def marked(html: str, url: str, config: ExtractConfig) -> Extracted:
    """``extract_html``, except for urls carrying one of the markers above."""
    if HANG in url:
        while True:
            time.sleep(3600)
    if DIE in url:
        os._exit(3)
    if FAIL in url:
        raise ValueError(f"cannot parse {url}")
    return extract_html(html, url, config)


def whereabouts(html: str, url: str, config: ExtractConfig) -> Extracted:
    """Which process ran the page, and whether it had the lxml speed-ups installed."""
    from pagestream.transforms.extract import lxml_speedups

    return Extracted(str(os.getpid()), str(lxml_speedups.installed()), None, None, "test")
