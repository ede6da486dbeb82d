"""Finding detector matches in text in linear time, and truncating text over the size limit.

The scan works on the UTF-8 bytes of the text. One RE2 pass with every
detector's pattern combined settles the common case, a line with nothing
to mask. Only when it matches do the detectors run one by one. Every
pass is linear in the length of the text, so the whole scan is bounded by
the number of detectors times the length, whatever the input.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from jivs_security.masking._detectors import VALUE_GROUP, Detector, compile_pattern
from jivs_security.masking._regex import Match, compile_set

__all__ = ["Scanner", "Span", "truncate", "truncation_marker"]

# A candidate that fails its detector's check may overlap a real value that
# starts inside it ("1234 4111 1111 1111 1111" has a card after a year), so
# the search resumes one byte after the candidate's start. Only candidates up
# to this many bytes are searched again. Every shipped detector with a check
# matches at most 42 bytes, so the extra work is bounded by 64 times the
# length of the text, and a long candidate cannot make the scan quadratic.
_RESCAN_MAX_BYTES: Final = 64


@dataclass(frozen=True, slots=True)
class Span:
    """Byte offsets of a value to mask, and the detector that found it."""

    start: int
    end: int
    detector: Detector


class _CompiledDetector:
    __slots__ = ("detector", "regex", "value_groups")

    def __init__(self, detector: Detector) -> None:
        self.detector = detector
        self.regex = compile_pattern(detector.name, detector.pattern)
        # Group names of a bytes pattern come back as bytes.
        names = {name.decode("ascii"): index for name, index in self.regex.groupindex.items()}
        self.value_groups = tuple(
            index
            for name, index in sorted(names.items(), key=lambda item: item[1])
            if name == VALUE_GROUP or name.startswith(VALUE_GROUP + "_")
        )

    def value_span(self, match: Match) -> tuple[int, int] | None:
        """Return the span to mask, or None when the match took an alternative without one."""
        if not self.value_groups:
            return match.span()
        for group in self.value_groups:
            span = match.span(group)
            if span[0] >= 0:
                return span
        return None


class Scanner:
    """Runs a fixed list of detectors over byte strings and returns the spans to mask."""

    def __init__(self, detectors: Sequence[Detector]) -> None:
        self.detectors = tuple(detectors)
        self._compiled = tuple(_CompiledDetector(detector) for detector in self.detectors)
        combined = "|".join(f"(?:{detector.pattern})" for detector in self.detectors)
        self._prefilter = (
            compile_pattern("combined", combined, never_capture=True) if self.detectors else None
        )
        self._set = compile_set(detector.pattern.encode("utf-8") for detector in self.detectors)

    def spans(self, data: bytes) -> list[Span]:
        """Return the spans to mask in ``data``, sorted, with overlapping spans merged."""
        if self._prefilter is None or self._prefilter.search(data) is None:
            return []
        # The set names the detectors with a candidate, so only those run.
        # RE2::Set reports no match when its DFA runs out of memory, which
        # the Python binding cannot tell from a real miss. The combined
        # pattern above did match, so an empty result runs every detector.
        hits = self._set.Match(data)
        selected = [self._compiled[index] for index in sorted(hits)] if hits else self._compiled
        found: list[Span] = []
        for compiled in selected:
            found.extend(_detector_spans(compiled, data))
        return _merge(found, data)


def _detector_spans(compiled: _CompiledDetector, data: bytes) -> list[Span]:
    validate = compiled.detector.validate
    regex = compiled.regex
    spans: list[Span] = []
    position = 0
    end_of_data = len(data)
    while position <= end_of_data:
        match = regex.search(data, position)
        if match is None:
            break
        value_span = compiled.value_span(match)
        rejected = False
        if value_span is not None and value_span[1] > value_span[0]:
            start, end = value_span
            value = data[start:end].decode("utf-8", "surrogatepass")
            rejected = validate is not None and not validate(value)
            if not rejected:
                spans.append(Span(start, end, compiled.detector))
        match_start, match_end = match.span()
        # Text consumed by an alternative without a value group is skipped
        # whole, as the pattern intends.
        if rejected and match_end - match_start <= _RESCAN_MAX_BYTES:
            position = match_start + 1
        else:
            position = max(match_end, match_start + 1)
    return spans


def _is_continuation(byte: int) -> bool:
    return 0x80 <= byte <= 0xBF


def _merge(spans: list[Span], data: bytes) -> list[Span]:
    """Sort spans, widen them to whole UTF-8 characters and merge overlaps.

    Where spans overlap, the union is masked and labelled with the detector
    of the earliest (then longest) span, so nothing any detector found stays
    readable.
    """
    spans.sort(key=lambda span: (span.start, -span.end))
    merged: list[Span] = []
    for span in spans:
        start, end = span.start, span.end
        # A pattern that ends inside a multi-byte character would leave half
        # of it on each side, and neither half decodes.
        while start > 0 and _is_continuation(data[start]):
            start -= 1
        while end < len(data) and _is_continuation(data[end]):
            end += 1
        if merged and start < merged[-1].end:
            last = merged[-1]
            if end > last.end:
                merged[-1] = Span(last.start, end, last.detector)
            continue
        merged.append(Span(start, end, span.detector))
    return merged


def truncation_marker(dropped: int) -> str:
    """Return the marker that replaces ``dropped`` characters cut from an over-long string."""
    return f"[TRUNCATED:{dropped} characters]"


def truncate(text: str, limit: int) -> tuple[str, int]:
    """Cut ``text`` to at most ``limit`` characters and return the kept part and the dropped count.

    When the cut falls inside a word, the rest of that word is dropped too:
    a token cut in half may no longer match its detector, and its first half
    would then be logged in clear. Text with no whitespace before the cut
    keeps nothing.
    """
    if len(text) <= limit:
        return text, 0
    kept = text[:limit]
    if not text[limit].isspace() and not kept[-1:].isspace():
        last_space = max(kept.rfind(character) for character in " \t\r\n\f\v")
        kept = kept[: last_space + 1]
    return kept, len(text) - len(kept)
