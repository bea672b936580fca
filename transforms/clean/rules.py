"""The line rules of ``clean_text``: trigger words, line shapes, link lists, code, scripts.

In the spirit of C4 (``tensorflow_datasets/text/c4_utils.py``): lines made of widgets (share,
subscribe, sign-up, login), link lists, cookie and policy notices, bylines, code or another
script are boilerplate. Unlike C4 the trigger-word rules spare *prose* (a sentence of several
words) unless it speaks to the reader ("you", "I agree", "Sign up ...") outside reported
speech, or matches the rule's ``boilerplate`` pattern; shape rules never apply to prose.

Everything here is private to the line cleaner (``clean_text._reason`` applies the rules in
order); hand-written because no maintained library offers line rules for plain text.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections import Counter
from typing import NamedTuple

from pagestream.transforms.clean.lines import CleanTextConfig, LineFeatures
from pagestream.transforms.scripts import han_or_kana

__all__: list[str] = []  # internal to clean_text.py: rule tables and line predicates

_REPORTED = re.compile(r"(said|says|told|added|according to|wrote|asked|stated)\b")
_READER = re.compile(
    r"(you|your|yours)\b|i (agree|accept|consent|have read)\b|sign me\b"
    r"|(our|this) (web ?site|site|newsletter|app|privacy|cookie|terms)\b"
    r"|(^|[.!?]\s+)(click|tap|see|sign|subscribe|share|follow|join|download|get|register|log"
    r"|enter|visit|accept)\b"
)


# Beyond English: "you" and the consent verbs of a notice, in languages of much of the web (a
# cookie or newsletter sentence addressed to the reader). Only forms that mean "you" alone:
# not German "sie" (she), Italian "lei" (she), French "je", Polish "pan"/"pani" (Mr/Mrs).
_READER_NATIVE = re.compile(
    r"\b(dir|dich|deine?[mnrs]?|vous|votre|vos|usted|ustedes|você|vocês|voi|vostr[oaie]|uw|jij|jouw|twoj[aeg]?"
    r"|вы|вас|вам|ваш[аеиу]?|siz|sizin|akzeptieren|zustimmen|accepter|acceptez|aceptar|acepta"
    r"|aceitar|aceite|accetta|accettare|accepteren|akceptuj[eę]?|принять|принимаю|kabul)\b"
)
_GERMAN_FORMAL = re.compile(r"\b(Ihnen|Ihre[mnrs]?|Ihr)\b")  # capitalised: the formal "you"


# Share / subscribe / log-in / comments widgets in languages of much of the web, for short lines
# that are not prose ("Teilen Sie diesen Artikel!", "Suscríbete", "分享到微信"). Comment nouns
# only at the start ("Comentarios (12)"): inside a sentence they are words of the article.
_NATIVE_WIDGET = re.compile(
    r"(?<!\w)(teilen|abonnieren|anmelden|einloggen|kommentieren|partager|abonnez-vous"
    r"|s'abonner|se connecter|inscrivez-vous|compartir|suscr[ií]bete|suscribirse"
    r"|iniciar sesi[oó]n|reg[ií]strate|condividi|iscriviti|accedi|compartilhe|compartilhar"
    r"|partilhar|assine|inscreva-se|delen|abonneren|inloggen|udostępnij|subskrybuj|zaloguj"
    r"|поделиться|подписаться|подпишитесь|войти|paylaş|abone ol|giriş yap|مشاركة|اشترك"
    r"|تسجيل الدخول|साझा करें|सदस्यता लें|लॉग इन)(?!\w)"
    r"|^(kommentare|commentaires|comentarios|commenti|comentários|reacties|komentarze"
    r"|комментарии|yorumlar|التعليقات|टिप्पणियाँ)(?!\w)"
    # CJK has no word boundaries: only at the start of the line ("分享到微信", "댓글 3")
    r"|^(分享|订阅|登录|注册|评论|シェア|購読|ログイン|コメント|공유|구독|로그인|댓글)"
)
_NATIVE_WIDGET_MAX_WORDS = 7


def native_widget(line: LineFeatures) -> bool:
    words = line.words / (2 if han_or_kana(line.text) else 1)
    return words <= _NATIVE_WIDGET_MAX_WORDS and bool(_NATIVE_WIDGET.search(line.text.lower()))


def speaks_to_reader(line: LineFeatures) -> bool:
    lower = line.text.lower()
    if _REPORTED.search(lower):
        return False
    return bool(
        _READER.search(lower) or _READER_NATIVE.search(lower) or _GERMAN_FORMAL.search(line.text)
    )


# --- rules ---------------------------------------------------------------------------------


class _Rule(NamedTuple):
    """A line rule: ``checks`` are ``(gate words, pattern)`` pairs; a pattern runs on the
    lower-cased line only when one of its gate words is a word of the line. Small patterns that
    start with a literal, run only where they can match, keep a long paragraph at microseconds
    (one big case-insensitive alternation took milliseconds per paragraph in ``re``)."""

    reason: str
    gate: frozenset[str]  # all gate words of the checks
    checks: tuple[tuple[frozenset[str], re.Pattern[str]], ...]
    boilerplate: re.Pattern[str] | None = None  # trigger rules: what makes prose boilerplate


def _rule(reason: str, *checks: tuple[str, str], boilerplate: str | None = None) -> _Rule:
    compiled = tuple((frozenset(gate.split()), re.compile(pattern)) for gate, pattern in checks)
    return _Rule(
        reason,
        frozenset().union(*(gate for gate, _ in compiled)),
        compiled,
        re.compile(boilerplate) if boilerplate else None,
    )


def rule_matches(rule: _Rule, lower: str, words: set[str]) -> bool:
    if words.isdisjoint(rule.gate):
        return False
    return any(not words.isdisjoint(gate) and p.search(lower) for gate, p in rule.checks)


GATE_WORDS = re.compile(r"[^\W\d_]+|©")
_MEDIA = "photo photos image images picture pictures slide slides page pages video videos"

# Trigger words: the line is dropped unless it is prose that neither speaks to the reader nor
# matches the rule's ``boilerplate`` pattern.
TRIGGER_RULES = (
    _rule(
        "javascript",
        ("javascript", "javascript"),
        boilerplate=r"browser|enable|disable|turn (on|off)|support",
    ),
    _rule(
        "cookie",
        ("cookie cookies", r"cookies?\b"),
        boilerplate=r"(uses?|accept|manage|reject|allow)( all)? cookies|cookies? (policy|settings"
        r"|preferences|consent)",
    ),
    _rule(
        "policy",
        ("terms", r"terms (of|and) (use|service|conditions)|terms ?& ?conditions"),
        ("privacy", r"privacy (policy|notice|statement|settings)|^privacy$"),
        ("rights", r"all rights reserved"),
        ("legal", r"legal notice"),
        ("sell", r"do not sell my"),
        ("accessibility", r"accessibility statement"),
        ("imprint impressum disclaimer", r"^(imprint|impressum|disclaimer)$"),
        boilerplate=r"all rights reserved|©|by (using|continuing)",
    ),
    _rule(
        "widget",
        ("share", r"share (this|on|via|article|story)|^share$"),
        ("subscribe subscription subscriptions", r"subscri(be|ption)s?\b"),
        ("sign", r"sign (me )?(up|in)\b"),
        ("log login logout", r"log ?(in|out)\b"),
        ("newsletter newsletters", r"newsletters?\b"),
        ("inbox", r"your inbox"),
        ("follow", r"follow us"),
        ("comment comments", r"^comments?\b|comments$"),
        ("reply comment", r"leave a (reply|comment)"),
        (
            "print email mail loader loading sponsored register search",
            r"^(print|e-?mail|loader|"
            r"loading|sponsored|register|search)\b",
        ),
        ("menu close open", r"^(menu|close|open)$"),
        ("clipboard", r"clipboard"),
        ("embed", r"embed\b"),
        ("advertise advertisement advertisements", r"advertis(e|ement|ements)\b"),
        ("min mins minute minutes", r"\d+ min(ute)?s? read"),
        (_MEDIA, r"^\W*\d+\s+(photo|image|picture|slide|page|video)s?\b|\(\s*\d+\s+images?\s*\)"),
        ("slideshow", r"slideshow"),
        ("account", r"(my|create (an )?) account"),
        ("app", r"download (the|our) app"),
        ("here", r"(click|tap|see) here"),
    ),
)

# Shapes of non-prose lines; prose never matches these.
SHAPE_RULES = (
    _rule(  # the header of a list of links to other articles
        "related",
        (
            "related recommended trending popular latest more most top also see read you in "
            "partner sponsored editor editors further",
            r"^(related|recommended|trending|popular|latest|more|most|top|also|see also|read (more"
            r"|next|also)|you (may|might) (also )?like|in other media|partner|sponsored|editor'?s"
            r" picks?|further reading)\b(\W+\w+){0,3}\W*$",
        ),
    ),
    _rule(
        "navigation",
        (
            "read show see view load source back go skip continue home next previous more top x",
            r"^((read|show|see|view|load) (more|all|less)\b|source link\b|(back|go|skip) to\b"
            r"|continue reading\b|(home|back|next|previous|more|top|x)$)",
        ),
        (
            "previous next prev older newer",
            r"(previous|next|prev|older|newer) (story|article|post"
            r"|page|entry|item)\b",
        ),
    ),
    _rule(
        "tags",
        (
            "tag tags topic topics category categories filed keyword keywords label labels",
            r"^(tags?|topics?|categor(y|ies)|filed under|keywords?|labels?)\s*:",
        ),
    ),
    _rule(
        "byline",
        ("©", r"^©"),
        ("c", r"\(c\)\s*\d"),
        ("copyright", r"^copyright\b"),
        (
            "credit credits photo photos image images picture pictures source sources foto fotos",
            r"(credit|photo|image|picture|source|foto)s?\s*:",
        ),
        ("published updated posted last", r"^(published|updated|posted|last (updated|modified))\b"),
    ),
)
BY_NAME = re.compile(
    r"(By|BY|Written by|Reporting by|Additional reporting by|Words by|Photos? by)\s+[A-Z]"
)
LABEL = re.compile(r"[^:]{1,40}:$")  # a form or metadata label without its value

_LINK_LIST = re.compile(r"[|•·»›▸►]|\s/\s|\s>\s")
_GLUED = re.compile(r"[a-z][A-Z]")
_MARKUP_TOKEN = re.compile(r"\S*\w[-_]\w+[-_]\w+[-_]\w+\S*")
_FUNCTION_WORDS = frozenset("the a an of to in on for and with at by from is are as or".split())  # noqa: SIM905


def is_link_list(line: LineFeatures) -> bool:
    """Menus and tag lists: several separators, links glued together, capitalised words only, or
    three or more commas between items of one to three words."""
    text = line.text
    if len(_LINK_LIST.findall(text)) >= 2:
        return True
    items = text.split(",")
    if len(items) >= 4 and all(1 <= len(item.split()) <= 3 for item in items):
        return True
    if any(len(_GLUED.findall(token)) >= 2 for token in text.split()):
        return True
    words = [w for w in text.split() if w[:1].isalpha()]
    return (
        len(words) >= 4
        and all(w[0].isupper() for w in words)
        and not any(w.lower() in _FUNCTION_WORDS for w in words)
    )


def has_markup(line: LineFeatures) -> bool:
    """Braces, or long ``a-b_c-d`` tokens (CSS classes, ids): one is enough in a short line, a
    paragraph of prose needs two (a url slug glued to a sentence is not code). Runs of ``_``
    (forms' fill-in blanks) do not count."""
    if "{" in line.text or "}" in line.text:
        return True
    tokens = (
        t
        for t in line.text.split()
        if len(t) >= 25
        and "://" not in t
        and _MARKUP_TOKEN.fullmatch(t)
        and t.strip("_")
        and _FILL_IN.search(t) is None
    )
    return next(tokens, None) is not None and (not line.prose or next(tokens, None) is not None)


_FILL_IN = re.compile(r"_{3,}")


# --- scripts ---------------------------------------------------------------------------------

_SCRIPT_GROUPS = {"HIRAGANA": "CJK", "KATAKANA": "CJK", "HANGUL": "CJK", "CJK": "CJK"}


@functools.lru_cache(maxsize=8192)
def _script(char: str) -> str:
    if char < "\u0080":
        return "LATIN"
    first = unicodedata.name(char, "UNKNOWN").split(" ", 1)[0]
    return _SCRIPT_GROUPS.get(first, first)


_ASCII_LETTERS = re.compile(r"[A-Za-z]+")
_ASCII = re.compile(r"[\x00-\x7f]+")


def _script_counts(text: str) -> Counter[str]:
    """Letters per script; ASCII is counted by regex, as most text is mostly ASCII (speed)."""
    counts = Counter(_script(c) for c in _ASCII.sub("", text) if c.isalpha())
    latin = len(text) - len(_ASCII_LETTERS.sub("", text))
    if latin:
        counts["LATIN"] += latin
    return counts


def page_main_script(lines: list[LineFeatures]) -> str | None:
    counts = _script_counts(" ".join(line.text for line in lines if line.prose))
    if not counts:
        counts = _script_counts(" ".join(line.text for line in lines))
    return min(counts, key=lambda s: (-counts[s], s)) if counts else None


def other_script(line: LineFeatures, main: str | None, config: CleanTextConfig) -> bool:
    if main == "LATIN" and line.text.isascii():
        return False
    counts = _script_counts(line.text)
    letters = sum(counts.values())
    return main is not None and letters >= 3 and counts[main] < config.script_min_share * letters
