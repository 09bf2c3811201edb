"""Moodle's parameter cleaning (``clean_param``) for the two types ``definum_get_stats`` declares.

A parameter is valid when cleaning leaves it unchanged (Moodle's ``validate_param``); these
functions answer that question without building the cleaned value.
"""

from __future__ import annotations

import re

_ALPHA = re.compile(r"[A-Za-z]*")
_C_SPACE = " \t\n\v\f\r"
# Removed by Moodle's fix_utf8: NUL, U+FFFE, U+FFFF and invalid UTF-8 (lone surrogates here).
_FIX_UTF8 = re.compile("[\x00\ufffe\uffff\ud800-\udfff]")
_TAG = re.compile(r"<.*?>", re.DOTALL)
_LANG_OPEN = re.compile(r'<lang lang="[a-zA-Z0-9_-]+"\s*>')
_SPAN_OPEN = re.compile(r'<span(\s+lang="[a-zA-Z0-9_-]+"|\s+class="multilang"){2}\s*>')


def is_alpha(value: str) -> bool:
    """PARAM_ALPHA: ASCII letters only (the empty string included)."""
    return _ALPHA.fullmatch(value) is not None


def is_text(value: str) -> bool:
    """PARAM_TEXT: no markup, except Moodle's well-formed multilang tags."""
    if _FIX_UTF8.search(value):
        return False
    if "</lang>" in value:
        return _multilang_intact(value, "lang", _LANG_OPEN)
    if "</span>" in value:
        return _multilang_intact(value, "span", _SPAN_OPEN)
    return _no_tags(value)


def _no_tags(value: str) -> bool:
    # PHP's strip_tags keeps a '<' only when whitespace follows it; any other '<' opens a tag.
    for i, ch in enumerate(value):
        if ch == "<" and (i + 1 >= len(value) or value[i + 1] not in _C_SPACE):
            return False
    return True


def _multilang_intact(value: str, tag: str, opening: re.Pattern[str]) -> bool:
    """Whether strip_tags(value, '<tag>') keeps everything and the tags nest as multilang."""
    if not _only_tags_named(value, tag):
        return False
    matches = _TAG.findall(value)
    if not matches:
        return False
    close = f"</{tag}>"
    open_ = False
    for match in matches:
        if match == close:
            if not open_:
                return False
            open_ = False
        elif opening.fullmatch(match):
            open_ = True
        else:
            return False
    return not open_


def _only_tags_named(value: str, tag: str) -> bool:
    i = 0
    while True:
        start = value.find("<", i)
        if start < 0:
            return True
        end = _tag_end(value, start)
        if end < 0:
            return False
        inner = value[start + 1 : end].lower().lstrip(_C_SPACE)
        if inner.startswith(("!", "?")):
            return False
        name = re.split(r"[\s>]", inner, maxsplit=1)[0].strip("/")
        if name != tag:
            return False
        i = end + 1


def _tag_end(value: str, start: int) -> int:
    depth = 0
    quote = ""
    for i in range(start + 1, len(value)):
        ch = value[i]
        if ch == "\x00":
            return -1
        if quote:
            if ch == quote:
                quote = ""
        elif ch in "\"'":
            quote = ch
        elif ch == "<":
            depth += 1
        elif ch == ">":
            if depth == 0:
                return i
            depth -= 1
    return -1
