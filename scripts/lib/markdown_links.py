"""What scripts/check-docs reads from a markdown file: its links, its headings' anchors and
its table rows, all outside code (fenced blocks and inline code spans are skipped)."""
import re
import unicodedata
from collections import namedtuple
from functools import lru_cache

Link = namedtuple("Link", "target line")

FENCE = re.compile(r"^\s*(```|~~~)")
INLINE_CODE = re.compile(r"(`+)(?:(?!\1).)+?\1")
INLINE_LINK = re.compile(r"\]\(\s*<?([^()\s<>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
HTML_LINK = re.compile(r"<(?:a|img)\b[^>]*?\b(?:href|src)=\"([^\"]+)\"", re.I)
REFERENCE = re.compile(r"^\s{0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s|$)")
HEADING = re.compile(r"^\s{0,3}(#{1,6})\s+(.*?)\s*#*\s*$")


def prose_lines(path):
    """(line number, text) of every line outside fenced code, inline code blanked out."""
    fenced = False
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if FENCE.match(line):
            fenced = not fenced
            continue
        if not fenced:
            yield number, line


def links_of(path):
    links = []
    for number, line in prose_lines(path):
        bare = INLINE_CODE.sub("``", line)
        for pattern in (INLINE_LINK, HTML_LINK, REFERENCE):
            links += [Link(target, number) for target in pattern.findall(bare)]
    return links


def slug(heading):
    """The anchor GitHub and mdbook give a heading: its text lower-cased, every space a
    hyphen, and everything but letters, digits, '_' and '-' left out."""
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", heading)
    text = re.sub(r"<[^>]+>", "", text).replace("`", "")
    text = re.sub(r"(\*+)(.+?)\1", r"\2", text)
    out = []
    for ch in text.lower():
        if ch == " ":
            out.append("-")
        elif ch in "-_" or unicodedata.category(ch)[0] in "LN":
            out.append(ch)
    return "".join(out)


@lru_cache(maxsize=None)
def anchors_of(path):
    seen = {}
    anchors = set()
    for _, line in prose_lines(path):
        m = HEADING.match(line)
        if not m:
            continue
        base = slug(m.group(2))
        n = seen.get(base, 0)
        seen[base] = n + 1
        anchors.add(base if n == 0 else f"{base}-{n}")
    return frozenset(anchors)


def table_rows(path):
    """(line number, cells) of every table row but the delimiter row; a `\\|` stays in its cell."""
    rows = []
    for number, line in prose_lines(path):
        if not line.lstrip().startswith("|") or re.fullmatch(r"\s*\|[\s:|-]+\|?\s*", line):
            continue
        cells = [c.strip() for c in re.split(r"(?<!\\)\|", line.strip().strip("|"))]
        rows.append((number, cells))
    return rows
