"""From raw records to pages with text: ``ExtractText`` (``RawPage`` -> ``Page``).

- ``composite``: the composite ``ExtractText``, its ``TextConfig`` and ``finish_text``;
- ``extract_fn``: ``ExtractFn``, one raw record to one ``Page`` (the first step);
- ``config``: HTML extraction settings (``ExtractConfig``), result and errors;
- ``html``: one trafilatura parse for text and metadata, and the lxml fallback;
- ``metadata``: title, author and date of a parsed page;
- ``bounded``: ``BoundedExtractor``, size and time bounds around ``html`` for every page;
- ``child``: the killable child process ``BoundedExtractor`` extracts in;
- ``lxml_speedups``: output-identical speed-ups of trafilatura's lxml work (opt-in; guarded by
  ``transforms.version_guard``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pagestream.transforms.lazy import lazy_exports

if TYPE_CHECKING:
    from pagestream.transforms.extract.bounded import BoundedExtractor
    from pagestream.transforms.extract.composite import ExtractText, TextConfig
    from pagestream.transforms.extract.config import (
        ExtractConfig,
        Extracted,
        ExtractionError,
        ExtractionTimeout,
        ExtractorCrashed,
        PageTooLarge,
    )
    from pagestream.transforms.extract.html import extract_html, fallback_extract

# Exported lazily (see ``lazy.py``): importing one module does not import every stage.
_EXPORTS = {
    "BoundedExtractor": "pagestream.transforms.extract.bounded",
    "ExtractConfig": "pagestream.transforms.extract.config",
    "ExtractText": "pagestream.transforms.extract.composite",
    "Extracted": "pagestream.transforms.extract.config",
    "ExtractionError": "pagestream.transforms.extract.config",
    "ExtractionTimeout": "pagestream.transforms.extract.config",
    "ExtractorCrashed": "pagestream.transforms.extract.config",
    "PageTooLarge": "pagestream.transforms.extract.config",
    "TextConfig": "pagestream.transforms.extract.composite",
    "extract_html": "pagestream.transforms.extract.html",
    "fallback_extract": "pagestream.transforms.extract.html",
}

__all__ = [
    "BoundedExtractor",
    "ExtractConfig",
    "ExtractText",
    "Extracted",
    "ExtractionError",
    "ExtractionTimeout",
    "ExtractorCrashed",
    "PageTooLarge",
    "TextConfig",
    "extract_html",
    "fallback_extract",
]
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
