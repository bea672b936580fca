"""Per-page quality signals and rule flags (Gopher, C4): ``ScoreQuality``.

- ``signals``: pure functions, text -> ``QualitySignals`` (the ``pages`` columns);
- ``rules``: ``QualityConfig`` (thresholds from the papers) and ``quality_flags``;
- ``score``: the composite, and ``assess`` (signals and flags of one text).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pagestream.transforms.lazy import lazy_exports

if TYPE_CHECKING:
    from pagestream.transforms.quality.rules import FLAGS, QualityConfig, quality_flags
    from pagestream.transforms.quality.score import ScoreQuality, assess, explain_quality
    from pagestream.transforms.quality.signals import QualitySignals, compute_signals

# Exported lazily (see ``lazy.py``): importing one module does not import every stage.
_EXPORTS = {
    "FLAGS": "pagestream.transforms.quality.rules",
    "QualityConfig": "pagestream.transforms.quality.rules",
    "QualitySignals": "pagestream.transforms.quality.signals",
    "ScoreQuality": "pagestream.transforms.quality.score",
    "assess": "pagestream.transforms.quality.score",
    "compute_signals": "pagestream.transforms.quality.signals",
    "explain_quality": "pagestream.transforms.quality.score",
    "quality_flags": "pagestream.transforms.quality.rules",
}

__all__ = [
    "FLAGS",
    "QualityConfig",
    "QualitySignals",
    "ScoreQuality",
    "assess",
    "compute_signals",
    "explain_quality",
    "quality_flags",
]
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
