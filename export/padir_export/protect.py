"""Placeholder protection: the spans a translation must carry over unchanged (printf and Qt
conversions, braces, tags, entities, URLs, e-mail addresses, paths, `\\n`) are replaced by
placeholder tokens before the model sees a sentence, and put back afterwards.

This module is the specification; the Rust runtime (`src/text/protect.rs`) must agree with it
on every case of `tests/data/protect_cases.json` (both test suites read that file).

Protecting a sentence:
1. Spans are found left to right by one regular expression (`SPAN`, leftmost alternative first);
   a path counts only at the start of the text or after whitespace, `(`, `"` or `'`.
2. The first `MAX_PLACEHOLDERS` spans become `<ph0>`, `<ph1>`, ... in order of appearance; a
   span text seen before reuses its placeholder, except printf conversions without a position
   (each `%s` is an argument of its own). Later spans stay as text.
3. Accelerator markers (`&` before a letter or digit, `_` before a letter at the start of a
   word, not after another `_`) become `<acc>`: the marker belongs to a word, and the model puts
   it on the translated word (the corpus has them on both sides).

Restoring a translation: each `<phK>` becomes span K, except that printf conversions without a
position (`%s`, `%d`, ... not `%1$s` nor `%%`) are dealt out in source order (the k-th such
placeholder in the output gets the k-th such span of the source), so their types keep the order
printf reads its arguments in; each `<acc>` becomes the source's marker. The result is
*faithful* when it holds every span as often as the source (as placeholders, and counted in the
final text), no span the source lacks (protecting the result finds the source's spans again)
and as many markers: otherwise the
caller re-decodes (the runtime's AR fallback) or repairs (`repair`: each span kept as often as
the source has it, unknown placeholders dropped, missing spans appended in source order, lost
accelerator markers put on the first words; a tag is never lost).
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field

MAX_PLACEHOLDERS = 16
PLACEHOLDERS = [f"<ph{i}>" for i in range(MAX_PLACEHOLDERS)]
ACCELERATOR = "<acc>"
# Added to the vocabulary (as ordinary added tokens, so they survive detokenization).
TOKENS = PLACEHOLDERS + [ACCELERATOR]

# One alternation, leftmost first; the same text in Rust's `regex` (no look-around there).
SPAN_PARTS = [
    ("url", r"(?:https?|ftp)://[^\s<>\"']*[^\s<>\"'.,;:!?)\]]"),
    ("email", r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+"),
    (
        "tag",
        r"</?[A-Za-z][A-Za-z0-9:._-]*(?:\s+[A-Za-z_:][A-Za-z0-9:._-]*(?:\s*=\s*(?:\"[^\"]*\"|'[^']*'|[^\s>\"']+))?)*\s*/?>",
    ),
    ("entity", r"&(?:[A-Za-z][A-Za-z0-9]*|#[0-9]+|#[xX][0-9A-Fa-f]+);"),
    ("printf_named", r"%\([A-Za-z_][A-Za-z0-9_]*\)[-+ 0#]*[0-9]*(?:\.[0-9]+)?[diouxXeEfFgGcrsa]"),
    # No space flag: "50% de" is prose, not "% d".
    (
        "printf_positional",
        r"%[0-9]+\$[-+0#]*[0-9]*(?:\.[0-9]+)?(?:hh|ll|[hlLqjzt])?[diouxXeEfFgGaAcspn]",
    ),
    (
        "printf",
        r"%[-+0#]*(?:[0-9]+|\*)?(?:\.(?:[0-9]+|\*))?(?:hh|ll|[hlLqjzt])?[diouxXeEfFgGaAcspn]",
    ),
    ("percent", r"%%"),
    ("qt", r"%L?[0-9]+"),
    ("brace", r"\{[A-Za-z0-9_]*(?:[:,!][^{}]*)?\}"),
    ("escape", r"\\[ntr]"),
    # ~/x, ./x, ../x, or two components at least (/etc/fstab; not "km /h").
    # ~/x, ./x, ../x, or two components at least, the first in lower case (/etc/fstab,
    # /usr/lib; not "km /h", nor GTK menu paths such as /_File/_Open).
    (
        "path",
        r"(?:~|\.{1,2})/[A-Za-z0-9._-]+(?:/[A-Za-z0-9._-]+)*/?|/[a-z0-9.-][a-z0-9._-]*(?:/[A-Za-z0-9._-]+)+/?",
    ),
    ("accelerator", r"&[A-Za-z0-9]|_[^\W\d_]"),
]
SPAN = re.compile("|".join(f"(?P<{name}>{rx})" for name, rx in SPAN_PARTS))
PATH_BEFORE = set(" \t\n(\"'")
PLACEHOLDER_RE = re.compile(r"<ph([0-9]+)>|<acc>")


@dataclass
class Protected:
    """A sentence with its spans replaced, and what restoring needs."""

    text: str
    spans: list[str] = field(default_factory=list)  # span K is behind <phK>
    kinds: list[str] = field(default_factory=list)
    markers: list[str] = field(default_factory=list)  # accelerator characters, in order
    source: str = ""  # the text before protection

    def unpositioned(self):
        """Indices of the printf conversions without a position, in source order: their
        placeholders are dealt out in this order whatever order the model wrote them in."""
        return iter(i for i, k in enumerate(self.kinds) if k == "printf")


def protect(text: str) -> Protected:
    out, spans, kinds, markers = [], [], [], []
    pos = 0
    for m in SPAN.finditer(text):
        kind, span = m.lastgroup, m.group()
        if kind == "path" and m.start() > 0 and text[m.start() - 1] not in PATH_BEFORE:
            continue
        if kind == "accelerator":
            if _mid_word_underscore(text, m):
                continue
            out.append(text[pos : m.start()])
            out.append(ACCELERATOR)
            markers.append(span[0])
            pos = m.start() + 1  # the letter stays
            continue
        if span in spans and kind != "printf":
            index = spans.index(span)
        elif len(spans) < MAX_PLACEHOLDERS:
            index = len(spans)
            spans.append(span)
            kinds.append(kind)
        else:
            continue  # too many: stays as text
        out.append(text[pos : m.start()])
        out.append(PLACEHOLDERS[index])
        pos = m.end()
    out.append(text[pos:])
    return Protected("".join(out), spans, kinds, markers, text)


def _target_spans(target: str):
    """The spans and markers of a target, found as `protect` finds them in a source."""
    for m in SPAN.finditer(target):
        kind = m.lastgroup
        if kind == "path" and m.start() > 0 and target[m.start() - 1] not in PATH_BEFORE:
            continue
        if kind == "accelerator" and _mid_word_underscore(target, m):
            continue
        yield kind, m


def _mid_word_underscore(text: str, m: re.Match) -> bool:
    before = text[m.start() - 1] if m.start() > 0 else " "
    return m.group()[0] == "_" and (before.isalnum() or before == "_")


def protect_pair(source: str, target: str) -> tuple[str, str]:
    """A training pair, protected on both sides when the target carries every span and marker
    of the source (its spans then take the source's placeholders; printf conversions without
    a position in order), else as it is: the model sees a placeholder only where it is to be
    copied."""
    p = protect(source)
    if not p.spans and not p.markers:
        return source, target
    index = {s: i for i, (s, k) in enumerate(zip(p.spans, p.kinds)) if k != "printf"}
    unpositioned = p.unpositioned()
    out, pos = [], 0
    for kind, m in _target_spans(target):
        if kind == "accelerator":
            out += [target[pos : m.start()], ACCELERATOR]
            pos = m.start() + 1
            continue
        k = next(unpositioned, None) if kind == "printf" else index.get(m.group())
        if k is None or p.spans[k] != m.group():
            continue
        out += [target[pos : m.start()], PLACEHOLDERS[k]]
        pos = m.end()
    out.append(target[pos:])
    protected = "".join(out)
    r = restore(protected, p)
    if r.faithful and r.text == target:
        return p.text, protected
    return source, target


@dataclass
class Restored:
    text: str
    faithful: bool


def restore(translation: str, p: Protected) -> Restored:
    dealt = p.unpositioned()
    used: list[str] = []
    markers = iter(p.markers)
    ok = True
    out, pos = [], 0
    for m in PLACEHOLDER_RE.finditer(translation):
        out.append(translation[pos : m.start()])
        pos = m.end()
        if m.group() == ACCELERATOR:
            marker = next(markers, None)
            if marker is None:
                ok = False
            else:
                out.append(marker)
            continue
        k = int(m.group(1))
        if k >= len(p.spans):
            ok = False
            continue
        if p.kinds[k] == "printf":
            k = next(dealt, k)
        out.append(p.spans[k])
        used.append(p.spans[k])
    out.append(translation[pos:])
    text = "".join(out)
    ok = ok and Counter(used) == Counter(_occurrences(p)) and next(markers, None) is None
    # As the user sees it: each span as often in the result as in the source (the model may
    # also have written one as plain text).
    ok = ok and all(text.count(s) == p.source.count(s) for s in set(p.spans))
    # ... and no other: the spans found in the result are the source's. A span restored
    # before a letter can make a new one (`%1` then `d` reads as printf's `%1d`), and the model
    # may write a `%` of its own: a host would hand either to printf.
    ok = ok and Counter(_occurrences(protect(text))) == Counter(_occurrences(p))
    return Restored(text, ok)


def _occurrences(p: Protected) -> list[str]:
    """Every placeholder occurrence of the protected text, as its span."""
    return [p.spans[int(m.group(1))] for m in re.finditer(r"<ph([0-9]+)>", p.text)]


def repair(translation: str, p: Protected) -> str:
    """The last resort when no decoding is faithful: restore `translation` keeping each span
    only as often as the source has it (extra placeholders, unknown ones and extra markers are
    dropped) and append the spans it lacks, in source order: nothing of the source is lost."""
    want = Counter(_occurrences(p))
    unpositioned = p.unpositioned()
    markers = iter(p.markers)
    out, pos = [], 0
    for m in PLACEHOLDER_RE.finditer(translation):
        out.append(translation[pos : m.start()])
        pos = m.end()
        if m.group() == ACCELERATOR:
            out.append(next(markers, ""))
            continue
        k = int(m.group(1))
        if k >= len(p.spans):
            continue
        if p.kinds[k] == "printf":
            k = next(unpositioned, None)
            if k is None:
                continue
        if want[p.spans[k]] > 0:
            want[p.spans[k]] -= 1
            out.append(p.spans[k])
    out.append(translation[pos:])
    text = _place_markers("".join(out), list(markers))
    missing = []
    for s in _occurrences(p):
        if want[s] > 0:
            want[s] -= 1
            missing.append(s)
    return " ".join([text.rstrip(), *missing]) if missing else text


def _place_markers(text: str, markers: list[str]) -> str:
    """Markers the translation lost go before the first letter or digit of its first words,
    one per word (`&File` -> `Fichier` -> `&Fichier`); words end at whitespace and `/`."""
    out, pending, in_word = [], iter(markers), False
    marker = next(pending, None)
    for c in text:
        if c.isspace() or c == "/":  # menu paths: /File/Open
            in_word = False
        elif marker is not None and not in_word and c.isalnum():
            out.append(marker)
            marker = next(pending, None)
            in_word = True
        elif c.isalnum():
            in_word = True
        out.append(c)
    return "".join(out)
