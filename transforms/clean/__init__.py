"""Line-level boilerplate removal for plain-text pages, and lines a site repeats.

- ``text``: ``clean_text`` (line rules + repeated lines), ``remove_repeated_lines`` and
  ``clean_plain_text`` (either, or neither, by ``--text_cleaning`` mode: ``modes``);
- ``metadata``: ``text_metadata``, the title, date and byline of a plain-text page;
- ``scripts``: sentence ends and word counts in every script;
- ``lines``: a page as logical lines, ``CleanTextConfig``; ``rules``: the line rules;
- ``sites``: a page's site and the keys of its lines; ``site_stats``: the composite
  ``SiteStats`` counting lines per site in the graph.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pagestream.transforms.lazy import lazy_exports

if TYPE_CHECKING:
    from pagestream.transforms.clean.lines import CleanTextConfig
    from pagestream.transforms.clean.metadata import text_metadata
    from pagestream.transforms.clean.plain import clean_plain_text
    from pagestream.transforms.clean.site_stats import SiteStats, SiteStatsConfig
    from pagestream.transforms.clean.sites import line_keys, site_of
    from pagestream.transforms.clean.text import CleanResult, clean_text, remove_repeated_lines

# Exported lazily (see ``lazy.py``): importing one module does not import every stage.
_EXPORTS = {
    "CleanResult": "pagestream.transforms.clean.text",
    "CleanTextConfig": "pagestream.transforms.clean.lines",
    "SiteStats": "pagestream.transforms.clean.site_stats",
    "SiteStatsConfig": "pagestream.transforms.clean.site_stats",
    "clean_plain_text": "pagestream.transforms.clean.plain",
    "clean_text": "pagestream.transforms.clean.text",
    "text_metadata": "pagestream.transforms.clean.metadata",
    "line_keys": "pagestream.transforms.clean.sites",
    "remove_repeated_lines": "pagestream.transforms.clean.text",
    "site_of": "pagestream.transforms.clean.sites",
}

__all__ = [
    "CleanResult",
    "CleanTextConfig",
    "SiteStats",
    "SiteStatsConfig",
    "clean_plain_text",
    "clean_text",
    "line_keys",
    "remove_repeated_lines",
    "site_of",
    "text_metadata",
]
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
