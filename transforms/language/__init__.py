"""Language identification: ``DetectLanguage`` fills ``language`` and ``language_score``.

- ``detect``: the composite and ``detect_language`` (naive Bayes over langdetect's profiles);
- ``model``: langdetect's profile model, loaded once per process;
- ``hints``: evidence other than the text (``<html lang>``, country TLDs).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pagestream.transforms.lazy import lazy_exports

if TYPE_CHECKING:
    from pagestream.transforms.language.detect import (
        UNDETERMINED,
        DetectLanguage,
        LanguageConfig,
        detect_language,
    )

# Exported lazily (see ``lazy.py``): importing one module does not import every stage.
_EXPORTS = {
    "DetectLanguage": "pagestream.transforms.language.detect",
    "LanguageConfig": "pagestream.transforms.language.detect",
    "UNDETERMINED": "pagestream.transforms.language.detect",
    "detect_language": "pagestream.transforms.language.detect",
}

__all__ = [
    "DetectLanguage",
    "LanguageConfig",
    "UNDETERMINED",
    "detect_language",
]
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
