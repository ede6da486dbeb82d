"""The Masker: masks sensitive values in text, by pattern, and in mappings, by key."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Final

from jivs_security.errors import ConfigurationError
from jivs_security.masking._detectors import CREDENTIAL_DETECTORS, EMAIL_ADDRESS, Detector
from jivs_security.masking._financial import CARD_NUMBER, IBAN
from jivs_security.masking._keys import DEFAULT_KEYS, KEY_DETECTOR_NAME, KeyMatcher
from jivs_security.masking._national import NATIONAL_ID_DETECTORS
from jivs_security.masking._scanner import Scanner, truncate, truncation_marker
from jivs_security.masking._styles import MaskStyle, Redact
from jivs_security.masking._walk import Walk

__all__ = ["DEFAULT_DETECTORS", "Finding", "Masker"]

DEFAULT_DETECTORS: Final[tuple[Detector, ...]] = (
    *CREDENTIAL_DETECTORS,
    CARD_NUMBER,
    IBAN,
    EMAIL_ADDRESS,
    *NATIONAL_ID_DETECTORS,
)

# Characters of one string that are scanned; the rest is dropped with a
# marker. 64 KiB fits a long traceback. It also bounds the cost of a hostile
# string: the most expensive shape in benchmarks/README.md took about 0.1 s
# at this limit on the machine described there.
DEFAULT_MAX_LENGTH: Final = 64 * 1024
# Characters scanned across all strings of one mask() call.
DEFAULT_MAX_TOTAL_LENGTH: Final = 1024 * 1024
# Nesting levels of mappings and sequences walked; deeper values are replaced.
DEFAULT_MAX_DEPTH: Final = 8
# Values visited in one mask() call; later ones are replaced.
DEFAULT_MAX_ITEMS: Final = 10_000


@dataclass(frozen=True, slots=True)
class Finding:
    """A value a detector found: the detector's name and the value's character offsets."""

    detector: str
    start: int
    end: int


class Masker:
    """Masks secrets and personal data in log text and in structured log values.

    Text is scanned with ``detectors`` (by default, :data:`DEFAULT_DETECTORS`:
    credentials, card numbers, IBANs, e-mail addresses and national
    identifiers) and for ``name=value`` pairs whose name contains one of
    ``keys``. In mappings, the value of every sensitive key is masked whole,
    and every other value is scanned as text. Each value found is replaced
    by ``styles[detector name]`` if given, else by ``style``.

    Work per call is bounded: each string is cut to ``max_length``
    characters (the rest dropped with a marker, the kept part masked), all
    strings of one call together to ``max_total_length``, and at most
    ``max_items`` values are visited, ``max_depth`` levels deep. Values past
    a limit are replaced, never passed through unmasked. Containers that
    refer to themselves are replaced at the second visit.

    A Masker is safe to share between threads once built. It never logs,
    because it runs inside logging handlers.
    """

    def __init__(
        self,
        *,
        detectors: Iterable[Detector] = DEFAULT_DETECTORS,
        keys: Iterable[str] = DEFAULT_KEYS,
        style: MaskStyle | None = None,
        styles: Mapping[str, MaskStyle] | None = None,
        max_length: int = DEFAULT_MAX_LENGTH,
        max_total_length: int = DEFAULT_MAX_TOTAL_LENGTH,
        max_depth: int = DEFAULT_MAX_DEPTH,
        max_items: int = DEFAULT_MAX_ITEMS,
    ) -> None:
        detector_list = list(detectors)
        for detector in detector_list:
            if not isinstance(detector, Detector):
                raise ConfigurationError(
                    f"Invalid detector {type(detector).__name__}: expected a Detector instance.",
                    setting="detectors",
                    expected="an iterable of jivs_security.masking.Detector",
                    value=type(detector).__name__,
                )
        self.keys = KeyMatcher(keys)
        self.style = _checked_style("style", Redact() if style is None else style)
        self.styles = {
            name: _checked_style(f"styles[{name!r}]", value)
            for name, value in (styles or {}).items()
        }
        self.max_length = _positive("max_length", max_length)
        self.max_total_length = _positive("max_total_length", max_total_length)
        self.max_depth = _positive("max_depth", max_depth)
        self.max_items = _positive("max_items", max_items)
        self.detectors = (*detector_list, *self.keys.detectors())
        self._scanner = Scanner(self.detectors)

    def __repr__(self) -> str:
        names = sorted({detector.name for detector in self.detectors})
        return f"Masker(detectors={names}, keys={list(self.keys.needles)}, style={self.style!r})"

    def mask_text(self, text: str, *, limit: int | None = None) -> str:
        """Return ``text`` with every detected value replaced, cut to ``max_length`` characters.

        ``limit`` lowers the length limit for this call only.
        """
        limit = self.max_length if limit is None else min(limit, self.max_length)
        kept, dropped = truncate(text, limit)
        masked = self._mask_kept(kept)
        return masked + truncation_marker(dropped) if dropped else masked

    def mask_value(self, label: str, value: str) -> str:
        """Return the replacement for ``value``, found by ``label``, in the style set for it."""
        return self.styles.get(label, self.style).replace(label, value)

    def mask_secret(self, value: object) -> object:
        """Return the replacement for the value of a sensitive key.

        Strings and numbers are replaced in the style for the ``key``
        detector. ``None`` and booleans are kept, because they carry no
        secret. Containers and other objects are redacted whole.
        """
        if value is None or isinstance(value, bool):
            return value
        if isinstance(value, str):
            return self.mask_value(KEY_DETECTOR_NAME, value[: self.max_length])
        if isinstance(value, int | float):
            try:
                text = repr(value)
            except ValueError:
                # Python refuses to render an int of more than 4,300 digits.
                return f"[REDACTED:{KEY_DETECTOR_NAME}]"
            return self.mask_value(KEY_DETECTOR_NAME, text)
        return f"[REDACTED:{KEY_DETECTOR_NAME}]"

    def mask(self, value: object) -> object:
        """Return a masked copy of ``value``: text, a mapping, a sequence or a scalar.

        Mappings become dicts and sequences keep their type when it is list
        or tuple, else become lists. Numbers that a detector matches become
        their masked text; other scalars are returned unchanged. Any other
        object is masked through ``str(value)``: the masked text replaces it
        when a detector matches, else the object is returned unchanged.
        """
        return Walk(self).visit(value, 0)

    def mask_mapping(self, mapping: Mapping[Any, object]) -> dict[Any, object]:
        """Return a masked copy of ``mapping`` as a dict, as :meth:`mask` does for mappings."""
        return Walk(self).masked_dict(mapping, 0)

    def is_sensitive_key(self, key: str) -> bool:
        """Return whether values under ``key`` are masked whole."""
        return self.keys.is_sensitive(key)

    def find(self, text: str) -> list[Finding]:
        """Return what the detectors find in ``text``, with character offsets, without masking.

        Overlapping finds are merged as :meth:`mask_text` merges them. The
        text is not truncated, and offsets are computed by decoding, so this
        is meant for tests and audits rather than for every log line.
        """
        data = text.encode("utf-8", "surrogatepass")
        findings = []
        for span in self._scanner.spans(data):
            start = len(data[: span.start].decode("utf-8", "surrogatepass"))
            length = len(data[span.start : span.end].decode("utf-8", "surrogatepass"))
            findings.append(Finding(span.detector.name, start, start + length))
        return findings

    def _mask_kept(self, text: str) -> str:
        data = text.encode("utf-8", "surrogatepass")
        spans = self._scanner.spans(data)
        if not spans:
            return text
        pieces = []
        position = 0
        for span in spans:
            pieces.append(data[position : span.start].decode("utf-8", "surrogatepass"))
            value = data[span.start : span.end].decode("utf-8", "surrogatepass")
            canonical = span.detector.canonical
            pieces.append(
                self.mask_value(span.detector.name, canonical(value) if canonical else value)
            )
            position = span.end
        pieces.append(data[position:].decode("utf-8", "surrogatepass"))
        return "".join(pieces)


def _positive(setting: str, value: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigurationError(
            f"Invalid {setting} {value!r}: expected a positive int.",
            setting=setting,
            expected="an int >= 1",
            value=value,
        )
    return value


def _checked_style(setting: str, style: object) -> MaskStyle:
    # str and bytes have a replace() method of their own, with another meaning.
    if isinstance(style, str | bytes) or not isinstance(style, MaskStyle):
        raise ConfigurationError(
            f"Invalid {setting}: {type(style).__name__} has no replace(label, value) method; "
            "use Redact(), KeepLast(4) or KeyedHash(key).",
            setting=setting,
            expected="a MaskStyle such as Redact(), KeepLast(4) or KeyedHash(key)",
            value=type(style).__name__,
        )
    return style
