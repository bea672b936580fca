"""HTML -> text + metadata, with bounded size and time (issues 3 and 9, extraction part).

The public face of extraction; the code lives in one module per concern, re-exported here:

- ``html_decode``: :func:`decode_html` (bytes -> str, never raises);
- ``html_head``: the cheap head scans :func:`html_lang` and :func:`canonical_url`;
- ``extract_config``: :class:`ExtractConfig`, the result :class:`Extracted` and the errors
  (with the measurements behind the default settings);
- ``html_text``: :func:`extract_html` (one trafilatura parse for text and metadata) and
  :func:`fallback_extract` (an lxml tag strip on a bounded prefix), in the calling thread;
- ``bounded_extract``: :class:`BoundedExtractor` adds the limits: pages over
  ``max_page_bytes`` are refused before parsing, and pages a cheap pre-check finds risky run in
  a persistent child process that is killed and restarted when a page overruns ``timeout_s``.
  Normal pages run inline, so they pay no inter-process round trip.

The Beam composite ``ExtractText`` lives in ``extract.py``.
"""

from __future__ import annotations

from pagestream.transforms.extract.bounded import BoundedExtractor
from pagestream.transforms.extract.config import (
    EXTRACTOR_FALLBACK as EXTRACTOR_FALLBACK,
)
from pagestream.transforms.extract.config import (
    EXTRACTOR_TRAFILATURA as EXTRACTOR_TRAFILATURA,
)
from pagestream.transforms.extract.config import (
    ExtractConfig,
    Extracted,
    ExtractionError,
    ExtractionTimeout,
    ExtractorCrashed,
    PageTooLarge,
)
from pagestream.transforms.read.html_decode import decode_html
from pagestream.transforms.read.html_head import canonical_url, html_lang
from pagestream.transforms.extract.html import (
    extract_html,
    fallback_extract,
    join_paragraphs,
    needs_isolation,
    page_bytes_over,
)

__all__ = [
    "BoundedExtractor",
    "ExtractConfig",
    "Extracted",
    "ExtractionError",
    "ExtractionTimeout",
    "ExtractorCrashed",
    "PageTooLarge",
    "canonical_url",
    "decode_html",
    "extract_html",
    "fallback_extract",
    "html_lang",
    "join_paragraphs",
    "needs_isolation",
    "page_bytes_over",
]
