# -*- test-case-name: tests.test_safetext -*-
"""
Text from outside (a tracker's C{failure reason}, a peer's id, a file name)
made safe to log and to show.

A terminal obeys the escape codes in what it prints: a tracker that answers
C{"\\x1b]0;pwned\\x07"} retitles the user's terminal, C{"\\x1b[2J"} clears
it, a newline forges a log line of its own, a bidirectional override hides
what follows.  L{printable} keeps such text readable and inert: every control
and format character is written as a Python escape, and the length is bounded.

Client names have their own, stricter cleaner
(L{bittwist.clientname.sanitiseClientName}: controls dropped, whitespace
collapsed), since they are labels, not messages.
"""

import unicodedata

__all__ = ["MAX_TEXT", "printable"]

MAX_TEXT = 200
"""
The longest text L{printable} returns by default, in characters (before
escaping).
"""

_ELLIPSIS = "\N{HORIZONTAL ELLIPSIS}"


def _escape(character: str) -> str:
    code = ord(character)
    if code < 0x100:
        return f"\\x{code:02x}"
    if code < 0x10000:
        return f"\\u{code:04x}"
    return f"\\U{code:08x}"


def printable(text: "str | bytes | bytearray | memoryview", limit: int = MAX_TEXT) -> str:
    """
    Make outside text safe to log: bytes are decoded as UTF-8 (an undecodable
    byte becomes U+FFFD), every control, format, surrogate, private-use or
    unassigned character (Unicode category C: escapes, newlines, tabs,
    bidirectional overrides, ...) and every backslash is written as a Python
    escape (C{\\x1b}, C{\\u202e}, C{\\\\}), and text longer than C{limit}
    characters is cut, ending in an ellipsis.

    @param text: what came from outside.
    @param limit: the most characters of C{text} kept.
    @return: text of printable characters only, at most C{10 * limit + 1}
        long.
    """
    if isinstance(text, (bytes, bytearray, memoryview)):
        # Never decode more than could survive the cut (4 bytes a character):
        # what is left out still makes the text longer than the limit.
        text = bytes(text[: 4 * limit + 4]).decode("utf-8", "replace")
    cut = len(text) > limit
    pieces = []
    for character in text[:limit]:
        if character == "\\":
            pieces.append("\\\\")
        elif unicodedata.category(character)[0] == "C":
            pieces.append(_escape(character))
        else:
            pieces.append(character)
    if cut:
        pieces.append(_ELLIPSIS)
    return "".join(pieces)
