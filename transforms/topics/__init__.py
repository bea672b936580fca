"""Topic tagging with weighted keyword lexicons: ``TagTopics``.

- ``taxonomy``: the taxonomy file format, its validation and loading (``data/``: the default
  taxonomy);
- ``lexicon``: the compiled per-language lexicons and their term matching;
- ``tag``: the composite, ``score_topics`` and ``explain_topics``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pagestream.transforms.lazy import lazy_exports

if TYPE_CHECKING:
    from pagestream.transforms.topics.tag import (
        TagTopics,
        TopicConfig,
        explain_topics,
        score_topics,
    )
    from pagestream.transforms.topics.taxonomy import Taxonomy, load_taxonomy

# Exported lazily (see ``lazy.py``): importing one module does not import every stage.
_EXPORTS = {
    "TagTopics": "pagestream.transforms.topics.tag",
    "Taxonomy": "pagestream.transforms.topics.taxonomy",
    "TopicConfig": "pagestream.transforms.topics.tag",
    "explain_topics": "pagestream.transforms.topics.tag",
    "load_taxonomy": "pagestream.transforms.topics.taxonomy",
    "score_topics": "pagestream.transforms.topics.tag",
}

__all__ = [
    "TagTopics",
    "Taxonomy",
    "TopicConfig",
    "explain_topics",
    "load_taxonomy",
    "score_topics",
]
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
