"""Output-identical speed-ups of trafilatura's lxml work, installed once per process.

Two costs in trafilatura 2.x are Python calls made from inside libxml2, per element, rather
than extraction work:

1. ``re:test(@class, '...')`` in its XPath expressions (dozens of them) calls lxml's Python
   implementation of EXSLT regular expressions for every element the expression tests, also
   for elements without that attribute, where the test runs on ``""``.
2. ``lxml.html.HTMLParser`` chooses the Python class of each element with a Python method
   (``HtmlElementClassLookup.lookup``) every time lxml wraps a node: 2.6 million calls, 9 %
   of extraction time, on 400 benchmark pages.

:func:`install` rewrites each such test to ``(@class and re:test(@class, '...'))`` when its
pattern cannot match the empty string (so both select the same nodes: the test was false on
elements without the attribute), and gives the HTML parsers of trafilatura, htmldate and
justext lxml's C-level class lookup with the same classes (``HtmlElement``, ``HtmlComment``,
...). The one difference is that ``<form>``, ``<input>``, ``<select>``, ``<textarea>`` and
``<label>`` become plain ``HtmlElement`` rather than lxml's form classes, whose extra methods
(``.fields``, ``.value``) none of those libraries call. Measured with
``benchmarks/bench_speedups.py`` (436 extraction-dev pages, CPU, median of 5, trafilatura
2.3): 49.3 ms/page stock, 44.8 with both (9 % less); ``tests/test_lxml_speedups.py`` checks
that every extraction-dev and WARC page gives the same text and metadata either way.

Why by hand: no library does this; the right place is trafilatura itself (an upstream patch).
Only module-level XPath objects (alone or in lists) are rewritten; anything else
is left as it is, and :func:`uninstall` puts every original back. :func:`install` does nothing
(one log line) when trafilatura, htmldate or justext is not a version this was tested on
(``version_guard``).

Process-wide, so never a side effect of using the composites: ``BoundedExtractor(speedups=True)``
(which ``pagestream run`` sets) installs them in its extraction child only.
"""

from __future__ import annotations

import functools
import re
import sys
import threading
from collections.abc import Callable

import lxml.etree
import lxml.html

from pagestream.transforms import version_guard

__all__ = ["guard_regex_tests", "install", "installed", "uninstall"]

_REGEXP_NS = "http://exslt.org/regular-expressions"
_LIBRARIES = ("trafilatura", "htmldate", "justext")
_LITERAL = r"(?:'[^']*'|\"[^\"]*\")"
_REGEX_TEST = re.compile(
    r"re:test\(\s*(@[\w.-]+(?:\s*\|\s*@[\w.-]+)*)\s*,\s*(" + _LITERAL + r")\s*"
    r"(?:,\s*(" + _LITERAL + r")\s*)?\)"
)
# Namespace prefixes used in a path (string literals removed first; axes such as
# ``self::a`` end in ``::`` and are not prefixes).
_PREFIX = re.compile(r"(?<![\w.:-])([A-Za-z_][\w.-]*):(?!:)")

_lock = threading.Lock()
_undo: list[Callable[[], object]] = []  # each puts one original back
_installed = [False]  # also True when install() found nothing to replace


def guard_regex_tests(path: str) -> str:
    """``path`` with every ``re:test(@a, 'p'[, 'flags'])`` whose pattern cannot match ``""``
    wrapped as ``(@a and re:test(...))``; other tests are left as they are."""

    def guarded(match: re.Match) -> str:
        attributes, pattern, flags = match.group(1), match.group(2)[1:-1], match.group(3)
        re_flags = re.IGNORECASE if flags and "i" in flags[1:-1] else 0
        try:
            matches_empty = re.search(pattern, "", re_flags) is not None
        except re.error:
            return match.group(0)
        if matches_empty:
            return match.group(0)
        guard = f"({attributes})" if "|" in attributes else attributes
        return f"({guard} and {match.group(0)})"

    return _REGEX_TEST.sub(guarded, path)


def _guarded_xpath(expression: lxml.etree.XPath) -> lxml.etree.XPath | None:
    """A faster equivalent of ``expression``, or None when there is nothing to rewrite."""
    path = expression.path
    if "re:test(" not in path:
        return None
    prefixes = set(_PREFIX.findall(re.sub(_LITERAL, "''", path)))
    if prefixes != {"re"}:  # another namespace: its mapping is not readable from the XPath
        return None
    new_path = guard_regex_tests(path)
    if new_path == path:
        return None
    return lxml.etree.XPath(new_path, namespaces={"re": _REGEXP_NS})


def _library_modules() -> list:
    return [
        module
        for name, module in list(sys.modules.items())
        if module is not None and name.split(".")[0] in _LIBRARIES
    ]


def _replace(container, key, original, new) -> None:
    container[key] = new
    _undo.append(functools.partial(container.__setitem__, key, original))


def _install_xpaths(modules: list) -> int:
    # A module-level XPath may be imported by name into other modules (BASIC_CLEAN_XPATH is
    # in trafilatura.settings and trafilatura.baseline): each gets the same replacement. Lists
    # are changed in place, once, which every module holding them sees.
    replaced: dict[int, lxml.etree.XPath] = {}
    seen_lists: set[int] = set()
    count = 0
    for module in modules:
        namespace = vars(module)
        for name, value in list(namespace.items()):
            if isinstance(value, lxml.etree.XPath):
                if id(value) not in replaced:
                    replaced[id(value)] = _guarded_xpath(value) or value
                if replaced[id(value)] is not value:
                    _replace(namespace, name, value, replaced[id(value)])
                    count += 1
            elif isinstance(value, list) and id(value) not in seen_lists:
                seen_lists.add(id(value))
                for index, item in enumerate(value):
                    new = _guarded_xpath(item) if isinstance(item, lxml.etree.XPath) else None
                    if new is not None:
                        _replace(value, index, item, new)
                        count += 1
    return count


def _install_lookups(modules: list) -> int:
    lookup = lxml.etree.ElementDefaultClassLookup(
        element=lxml.html.HtmlElement,
        comment=lxml.html.HtmlComment,
        pi=lxml.html.HtmlProcessingInstruction,
        entity=lxml.html.HtmlEntity,
    )
    # The undo puts back lxml.html's own lookup, the one every lxml.html.HTMLParser starts
    # with (a parser's current lookup cannot be read back).
    original = lxml.html.HtmlElementClassLookup()
    parsers = {
        id(value): value
        for module in modules
        for value in vars(module).values()
        if isinstance(value, lxml.html.HTMLParser)
    }
    for parser in parsers.values():
        parser.set_element_class_lookup(lookup)
        _undo.append(functools.partial(parser.set_element_class_lookup, original))
    return len(parsers)


def install() -> int:
    """Applies both speed-ups to the trafilatura, htmldate and justext modules imported so far
    (importing trafilatura first); returns how many objects were replaced. Idempotent. On an
    untested version of one of them, replaces nothing and returns 0 (one log line)."""
    import trafilatura  # noqa: F401 - its modules hold the expressions and parsers

    if not version_guard.tested("lxml_speedups"):
        return 0
    with _lock:
        if _installed[0]:
            return 0
        _installed[0] = True
        modules = _library_modules()
        return _install_xpaths(modules) + _install_lookups(modules)


def installed() -> bool:
    return _installed[0]


def uninstall() -> None:
    """Puts back every expression and parser lookup :func:`install` replaced."""
    with _lock:
        while _undo:
            _undo.pop()()
        _installed[0] = False
