"""A calendar date written on one line, in any of the languages langdetect knows.

``parse_date_line("February 24, 2016, 12:29 UTC+3")`` -> ``"2016-02-24"``. Understood forms:
ISO ``2016-02-24``; ``24.02.2016`` / ``24-02-2016`` (day first); ``a/b/2016`` when one number
is above 12 (``01/17/2019`` is January 17); CJK ``2016年2月24日`` and Korean ``2016년 2월 24일``;
Vietnamese ``tháng 2``; and a month *name* with a day and a four-digit year near it, in any
order (``24 février 2016``, ``Febraayo 24, 2016``, ``2016. február 24.``, ``24 de febrero de
2016``). Month names, full and abbreviated, in their format and stand-alone forms, come from
the CLDR data that Babel ships, for every langdetect language; a name that means different
months in two languages takes the more written language's month. ``2016/02/24`` and
``2016. 2. 24.`` are year first (ja, ko, hu). Digits of any script are read (``٢٤``, ``२४``);
Thai Buddhist-era years (2559) are converted.

Not ``dateparser``: it is the right tool for free text, but took 6-300 ms per line here (its
language detection), against microseconds for this table lookup on the few candidate lines of
a page. Dates without a year ("MOSCOW, January 16") are not guessed.
"""

from __future__ import annotations

import datetime as dt
import functools
import unicodedata

import regex

__all__ = ["is_date_line", "parse_date_line"]

#: langdetect's languages as Babel locales (``no`` is Bokmål, ``tl`` Filipino, ``zh`` Chinese),
#: the most written first: where a name means two months, the earlier language's wins
#: ("listopad" is November in Polish and Czech, October in Croatian).
_LOCALE_CODES = (
    "en zh es ar pt ru ja fr de ko it tr pl fa vi id nl uk ro hu cs el sv hi bn ur th he da fi "
    "nb sk bg hr lt sl lv et ca mk sq af cy sw so tl fil ta te gu kn ml mr ne pa"
)
_LOCALES = _LOCALE_CODES.split()
_TOKEN = regex.compile(r"[\w.׳॰]+")  # with abbreviation marks: Thai "ก.พ.", Hebrew "פבר׳"
_ABBREVIATION_MARKS = ".׳॰"
_BIDI = regex.compile("[\u200e\u200f\u061c]")
_ISO = regex.compile(r"(?<!\d)(\d{4})-(\d{1,2})-(\d{1,2})(?!\d)")
_DMY = regex.compile(r"(?<!\d)(\d{1,2})([./-]) ?(\d{1,2})\2 ?(\d{4})(?!\d)")
_YMD = regex.compile(r"(?<!\d)(\d{4})([./]) ?(\d{1,2})\2 ?(\d{1,2})(?!\d)")  # ja, ko, hu
_CJK = regex.compile(r"(\d{4})\s*[年년]\s*(\d{1,2})\s*[月월]\s*(\d{1,2})\s*[日일]")
_VI = regex.compile(r"(?<!\d)(\d{1,2})\s+(?:tháng|thg)\s+(\d{1,2}),?\s+(?:năm\s+)?(\d{4})", regex.I)


@functools.lru_cache(maxsize=1)
def _month_names() -> dict[str, int]:
    """Case-folded month name (without a final dot) -> month number, from CLDR via Babel."""
    from babel import Locale
    from babel.dates import get_month_names

    months: dict[str, int] = {}
    for code in _LOCALES:
        try:
            locale = Locale.parse(code)
        except Exception:  # a Babel without this locale: its names are missing, not an error
            continue
        for width in ("wide", "abbreviated"):
            for context in ("format", "stand-alone"):
                for month, name in get_month_names(width, context, locale).items():
                    key = _name_key(name)
                    if key and not _has_digit(key):
                        months.setdefault(key, month)
    return months


def _name_key(name: str) -> str:
    return unicodedata.normalize("NFC", name).casefold().strip(_ABBREVIATION_MARKS)


def _has_digit(text: str) -> bool:
    return any(c.isdigit() for c in text)


def _ascii_digits(text: str) -> str:
    if text.isascii():
        return text
    return "".join(
        str(unicodedata.digit(c)) if c.isdigit() and not c.isascii() else c for c in text
    )


def _date(year: int, month: int, day: int) -> str | None:
    if year > 2400:  # Thai Buddhist era
        year -= 543
    if not 1900 <= year <= 2100:
        return None
    try:
        return dt.date(year, month, day).isoformat()
    except ValueError:
        return None


def _numeric(line: str) -> str | None:
    if match := _ISO.search(line):
        return _date(int(match[1]), int(match[2]), int(match[3]))
    if match := _YMD.search(line):
        return _date(int(match[1]), int(match[3]), int(match[4]))
    if match := _CJK.search(line):
        return _date(int(match[1]), int(match[2]), int(match[3]))
    if match := _VI.search(line):
        return _date(int(match[3]), int(match[2]), int(match[1]))
    if match := _DMY.search(line):
        first, second, year = int(match[1]), int(match[3]), int(match[4])
        if match[2] == "/" and second > 12 >= first:
            return _date(year, first, second)  # month/day/year
        if match[2] == "/" and not first > 12 >= second:
            return None  # a/b/yyyy with both <= 12: day or month first is unknowable
        return _date(year, second, first)
    return None


def _named(line: str) -> str | None:
    names = _month_names()
    tokens = [_name_key(t) for t in _TOKEN.findall(line)]
    for i, token in enumerate(tokens):
        month = names.get(token)
        if month is None and token[:1] in "בל":  # Hebrew: "in/to February" is one word
            month = names.get(token[1:])
        if month is None:
            continue
        near = tokens[max(0, i - 4) : i + 5]
        years = [int(t) for t in near if t.isdigit() and len(t) == 4]
        days = [int(t) for t in tokens[max(0, i - 2) : i + 3] if t.isdigit() and len(t) <= 2]
        days = [d for d in days if 1 <= d <= 31]
        if years and days:
            found = _date(years[0], month, days[0])
            if found:
                return found
    return None


def is_date_line(line: str) -> bool:
    """True when ``line`` is a date and little else: at most two other words of three letters
    or more ("Updated Thursday, 12 March 2021"), not a sentence that mentions a date."""
    if parse_date_line(line) is None:
        return False
    names = _month_names()
    words = [_name_key(t) for t in _TOKEN.findall(line)]
    return sum(len(w) > 2 and not w.isdigit() and w not in names for w in words) <= 2


def parse_date_line(line: str) -> str | None:
    """The ISO date (``YYYY-MM-DD``) written on ``line``, or None (see the module doc)."""
    line = _BIDI.sub("", _ascii_digits(line))
    if not _has_digit(line):
        return None
    return _numeric(line) or _named(line)
