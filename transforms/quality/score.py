"""``ScoreQuality``: the quality signals and flags of every page, computed once, as columns.

Pages are never dropped by default: the signals fill the ``pages`` columns named after
:class:`~.signals.QualitySignals` fields, and ``quality_flags`` lists the rules the page fails
(``rules.FLAGS``). With ``QualityConfig(drop=True)`` (``--drop_low_quality``) a flagged page
goes to ``rejected`` instead, stage ``quality``, reason its first flag.
"""

from __future__ import annotations

from collections.abc import Iterator

import apache_beam as beam

from pagestream.schemas.records import KIND_PAGE, KIND_REJECTED, Page
from pagestream.transforms.errors import dead_page
from pagestream.transforms.quality.rules import FLAGS, QualityConfig, failed_checks, quality_flags
from pagestream.transforms.quality.signals import QualitySignals, compute_signals, unspaced_share

__all__ = ["STAGE", "ScoreQuality", "ScoreQualityFn", "assess", "explain_quality"]

STAGE = "quality"
#: Share of Thai/Lao letters from which a text is treated as written without sentence marks.
UNPUNCTUATED_MIN_SHARE = 0.5


def _script(text: str) -> dict:
    unspaced, unpunctuated = unspaced_share(text)
    return {
        "unspaced_share": unspaced,
        "no_sentence_punctuation": unpunctuated >= UNPUNCTUATED_MIN_SHARE,
    }


def assess(
    text: str, language: str, word_count: int, config: QualityConfig | None = None
) -> tuple[QualitySignals, list[str]]:
    """The signals of a page's text and the names of the rules it fails (may be empty).

    Pure and deterministic: the same arguments give the same result in every process.
    """
    config = config or QualityConfig()
    signals = compute_signals(text, language)
    return signals, quality_flags(signals, word_count, config, **_script(text))


def explain_quality(
    text: str, language: str, word_count: int, config: QualityConfig | None = None
) -> dict[str, list[tuple[str, float]]]:
    """Why a text gets its ``quality_flags``: per flag, the failed checks ``(signal, value)``
    (the thresholds are the ``config`` fields named ``min_``/``max_`` + signal)."""
    config = config or QualityConfig()
    signals = compute_signals(text, language)
    return failed_checks(signals, word_count, config, **_script(text))


class ScoreQualityFn(beam.DoFn):
    """Sets the quality columns of ``kind == "page"`` records; other kinds pass unchanged.

    Counts every flag under ``Metrics.counter("quality", "flagged:<flag>")``; with
    ``config.drop`` a flagged page becomes ``rejected`` (``filtered:<flag>``). A page whose
    scoring fails becomes a dead letter (stage ``quality``).
    """

    def __init__(self, config: QualityConfig):
        self._config = config
        self._flagged = {f: beam.metrics.Metrics.counter(STAGE, f"flagged:{f}") for f in FLAGS}
        self._filtered = {f: beam.metrics.Metrics.counter(STAGE, f"filtered:{f}") for f in FLAGS}

    def process(self, page: Page) -> Iterator[Page]:
        if page.kind != KIND_PAGE:
            yield page
            return
        try:
            signals, flags = assess(page.text, page.language, page.word_count, self._config)
        except Exception as exc:  # one bad page must not crash the run
            yield dead_page(page, STAGE, "error", exc)
            return
        for flag in flags:
            self._flagged[flag].inc()
        page = page._replace(**signals._asdict(), quality_flags=flags)
        if flags and self._config.drop:
            self._filtered[flags[0]].inc()
            page = page._replace(kind=KIND_REJECTED, stage=STAGE, reason=flags[0])
        yield page


class ScoreQuality(beam.PTransform):
    """``PCollection[Page] -> PCollection[Page]``: quality signals and flags per page.

    Guarantees: one output per input; only ``kind == "page"`` records change; the result
    depends only on the record and ``config``. Run it after ``DetectLanguage`` (the stop-word
    count needs the language).
    """

    def __init__(self, config: QualityConfig | None = None):
        super().__init__()
        self._config = config or QualityConfig()

    def expand(self, pages):
        return pages | "ScoreQualityFn" >> beam.ParDo(ScoreQualityFn(self._config))
