"""Settings: kind, allowed range, default, and the one message that refuses a bad value.

Every value a user can set -- a ``pagestream run`` flag, a key of a ``--config`` file, a field
of a composite's config dataclass (``ExtractConfig``, ``DedupConfig``, ``LanguageConfig``,
``TopicConfig``, ``StreamConfig``, ...) -- is checked by a :class:`Number` or :class:`Choice`
from here, so a value is accepted or refused the same way everywhere, with one message::

    <name> must be <allowed>, got <value>
    --near_dup_threshold must be a number from 0.05 to 1, got 1.5
    DedupConfig.threshold must be a number from 0.05 to 1, got 1.5

The settings a flag shares with a config dataclass (``MIN_WORDS``, ``NEAR_DUP_THRESHOLD``, ...)
are defined here once: the dataclass default, the flag's ``--help`` text and the value the
manifest records all come from the same object. A dataclass declares a field with
``field_name: int = setting(SPEC)`` and calls :func:`check_fields` in ``__post_init__``.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any, NoReturn

__all__ = [
    "EXTRACT_TIMEOUT",
    "LANGUAGE_MIN_SCORE",
    "MAX_PAGES",
    "MAX_PAGE_BYTES",
    "MIN_WORDS",
    "NEAR_DUP_THRESHOLD",
    "TRIGGER_INTERVAL",
    "Choice",
    "Number",
    "ValidationError",
    "check_fields",
    "fail",
    "one_line",
    "setting",
]


class ValidationError(ValueError):
    """A value its setting does not allow; the message names the setting and what it allows."""


def fail(name: str, allowed: str, value: object, why: str = "") -> NoReturn:
    """Raises the one message format: ``<name> must be <allowed>, got <value>[, <why>]``."""
    raise ValidationError(f"{name} must be {allowed}, got {value!r}{', ' + why if why else ''}")


def one_line(text: object) -> str:
    """``text`` with every run of whitespace (newlines of YAML or Beam errors) as one space."""
    return " ".join(str(text).split())


def _show(number: float) -> str:
    """A bound as users type it: ``0.05``, ``1``, ``1000000000`` (no exponent)."""
    return str(int(number)) if float(number).is_integer() else repr(float(number))


@dataclass(frozen=True)
class Number:
    """A whole number (``kind=int``) or a number (``kind=float``, ints accepted) in a range.

    Attributes:
        kind: ``int`` or ``float``.
        low, high: bounds, inclusive unless ``open_low``/``open_high``; ``None``: no bound.
        default: the value used when none is given (``None``: the setting is off).
        note: said after the range in messages and ``--help`` (e.g. what 0 means).
        unit: said after the default in ``--help`` (``s``, ``bytes``).
        open_low, open_high: the bound itself is excluded.
    """

    kind: type
    low: float | None = None
    high: float | None = None
    default: Any = None
    note: str = ""
    unit: str = ""

    open_low: bool = False
    open_high: bool = False

    @property
    def allowed(self) -> str:
        noun = "a whole number" if self.kind is int else "a number"
        parts = []
        if self.low is not None:
            parts.append(("above " if self.open_low else "at least ") + _show(self.low))
        if self.high is not None:
            parts.append(("below " if self.open_high else "at most ") + _show(self.high))
        if not parts:
            text = noun
        elif len(parts) == 2 and not (self.open_low or self.open_high):
            text = f"{noun} from {_show(self.low)} to {_show(self.high)}"
        else:
            text = f"{noun} {'of ' if parts[0].startswith('at') else ''}{' and '.join(parts)}"
        return f"{text} ({self.note})" if self.note else text

    def check(self, name: str, value: Any) -> Any:
        """``value`` if it is of this kind and in range, else :class:`ValidationError`.

        Strings are refused (a config dataclass given ``"0.8"`` is a caller's bug); use
        :meth:`parse` for text from a command line."""
        kinds = int if self.kind is int else (int, float)
        if isinstance(value, bool) or not isinstance(value, kinds):
            fail(name, self.allowed, value)
        if (
            (self.kind is float and not math.isfinite(value))
            or (self.low is not None and (value <= self.low if self.open_low else value < self.low))
            or (
                self.high is not None
                and (value >= self.high if self.open_high else value > self.high)
            )
        ):
            fail(name, self.allowed, value)
        return float(value) if self.kind is float else value

    def parse(self, name: str, value: Any) -> Any:
        """Like :meth:`check`, but text (a flag's value, a quoted config value) is converted."""
        if isinstance(value, str):
            try:
                value = self.kind(value.strip())
            except ValueError:
                fail(name, self.allowed, value)
        return self.check(name, value)

    def help(self, text: str) -> str:
        """``text`` followed by the range and the default, for ``--help``."""
        default = "none" if self.default is None else _show(self.default)
        if self.default is not None and self.unit:
            default += f" {self.unit}"
        return f"{text}; {self.allowed}; default {default}"


@dataclass(frozen=True)
class Choice:
    """One of a fixed set of strings."""

    values: tuple[str, ...]
    default: str | None = None

    @property
    def allowed(self) -> str:
        return "one of " + ", ".join(self.values)

    def check(self, name: str, value: Any) -> str:
        if value not in self.values:
            fail(name, self.allowed, value)
        return value

    parse = check

    def help(self, text: str) -> str:
        return f"{text}; {self.allowed}; default {self.default}"


def setting(spec: Number | Choice) -> Any:
    """A dataclass field whose default is ``spec.default`` and which :func:`check_fields`
    checks against ``spec``."""
    return dataclasses.field(default=spec.default, metadata={"setting": spec})


def check_fields(config: Any) -> None:
    """Checks every :func:`setting` field of the dataclass instance ``config``; the message
    names the field as ``ClassName.field``. A field whose default is ``None`` may be ``None``."""
    for item in dataclasses.fields(config):
        spec = item.metadata.get("setting")
        value = getattr(config, item.name)
        if spec is not None and not (value is None and spec.default is None):
            spec.check(f"{type(config).__name__}.{item.name}", value)


# --- settings shared by a `pagestream run` flag and a config dataclass ---------------------------

#: Pages with fewer words after cleaning are rejected (``TextConfig.min_words``).
MIN_WORDS = Number(int, 0, 100_000, default=50)
#: Estimated Jaccard from which two pages are near duplicates (``DedupConfig.threshold``). Below
#: 0.05 almost every pair of pages would be a candidate.
NEAR_DUP_THRESHOLD = Number(float, 0.05, 1.0, default=0.7)
#: Below this posterior the language is ``und`` (``LanguageConfig.min_score``).
LANGUAGE_MIN_SCORE = Number(float, 0.0, 1.0, default=0.2)
#: Bigger HTML pages are not parsed (``ExtractConfig.max_page_bytes``): 1 kB .. 1 GB, 5 MiB.
MAX_PAGE_BYTES = Number(int, 1_000, 1_000_000_000, default=5 * 1024 * 1024, unit="bytes")
#: Wall-clock limit of one page's extraction (``ExtractConfig.timeout_s``).
EXTRACT_TIMEOUT = Number(float, 0.1, 3600.0, default=10.0, unit="s")
#: Stop reading after this many records (trial runs); ``None``: read everything.
MAX_PAGES = Number(int, 1, 10**12, default=None)
#: Streaming: seconds between commits (``StreamConfig.window_s`` on streaming runners, which
#: use at least 1 s).
TRIGGER_INTERVAL = Number(float, 0.1, 86_400.0, default=10.0, unit="s")
