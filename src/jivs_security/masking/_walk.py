"""A bounded walk over nested mappings and sequences that masks every value it reaches."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence, Set
from typing import TYPE_CHECKING, Any, Final

from jivs_security.masking._scanner import truncation_marker

if TYPE_CHECKING:
    from jivs_security.masking._masker import Masker

__all__ = ["CYCLE_PLACEHOLDER", "DEPTH_PLACEHOLDER", "TRUNCATED_KEY", "Walk"]

CYCLE_PLACEHOLDER: Final = "[REDACTED:cycle]"
DEPTH_PLACEHOLDER: Final = "[REDACTED:depth limit]"
# The key under which a mapping cut at the item limit reports what it dropped.
TRUNCATED_KEY: Final = "[TRUNCATED]"


def _items_marker(count: int | None) -> str:
    return f"[TRUNCATED:{count} items]" if count is not None else "[TRUNCATED:more items]"


class Walk:
    """One masking pass over a value, with its own budgets for characters and items."""

    def __init__(self, masker: Masker) -> None:
        self.masker = masker
        self.remaining_characters = masker.max_total_length
        self.remaining_items = masker.max_items
        # Ids of the containers on the path from the root to the current
        # value; a container met again on its own path is a cycle.
        self.active: set[int] = set()

    def visit(self, value: object, depth: int) -> object:  # noqa: PLR0911 - one return per type.
        """Return the masked form of ``value``, found ``depth`` containers below the root."""
        if isinstance(value, str):
            return self.text(value)
        if value is None or isinstance(value, bool | float):
            return value
        if isinstance(value, int):
            return self.number(value)
        if isinstance(value, bytes | bytearray):
            return self.binary(value)
        if isinstance(value, Mapping):
            return self.visit_mapping(value, depth)
        if isinstance(value, list | tuple | Set) or (
            isinstance(value, Sequence) and not isinstance(value, memoryview)
        ):
            return self.visit_sequence(value, depth)
        return self.other(value)

    def text(self, value: str) -> str:
        """Mask ``value`` within the character budget left for this walk."""
        budget = min(self.remaining_characters, self.masker.max_length)
        self.remaining_characters -= min(len(value), budget)
        if budget <= 0:
            return truncation_marker(len(value)) if value else value
        return self.masker.mask_text(value, limit=budget)

    def number(self, value: int) -> object:
        try:
            rendered = str(value)
        except ValueError:
            # Python refuses to render ints longer than sys.get_int_max_str_digits()
            # (4,300 digits by default). No shipped detector matches more than
            # 19 digits in a row, so such an int is returned unchanged.
            return value
        masked = self.text(rendered)
        return value if masked == rendered else masked

    def binary(self, value: bytes | bytearray) -> object:
        limit = self.masker.max_length
        rendered = bytes(value[:limit]).decode("utf-8", "replace")
        masked = self.text(rendered)
        if masked == rendered and len(value) <= limit:
            return value
        return masked

    def other(self, value: object) -> object:
        # NOTE: renderers that call repr() instead of str() may show text that
        # was not scanned here, for objects whose repr and str differ.
        rendered = str(value)
        masked = self.text(rendered)
        return value if masked == rendered else masked

    def visit_mapping(self, mapping: Mapping[Any, object], depth: int) -> object:
        """Return the masked dict for ``mapping``, or a placeholder when too deep or in a cycle."""
        if depth >= self.masker.max_depth:
            return DEPTH_PLACEHOLDER
        if id(mapping) in self.active:
            return CYCLE_PLACEHOLDER
        return self.masked_dict(mapping, depth)

    def masked_dict(self, mapping: Mapping[Any, object], depth: int) -> dict[Any, object]:
        """Return a dict with sensitive keys' values masked whole and every other value walked."""
        self.active.add(id(mapping))
        try:
            result: dict[Any, object] = {}
            for count, (key, value) in enumerate(mapping.items()):
                if self.remaining_items <= 0:
                    result[TRUNCATED_KEY] = _items_marker(_remaining(mapping, count))
                    break
                self.remaining_items -= 1
                if isinstance(key, str) and self.masker.is_sensitive_key(key):
                    masked_value = self.masker.mask_secret(value)
                else:
                    masked_value = self.visit(value, depth + 1)
                masked_key = self.text(key) if isinstance(key, str) else self.visit(key, depth + 1)
                result[masked_key] = masked_value
            return result
        finally:
            self.active.discard(id(mapping))

    def visit_sequence(self, sequence: Iterable[object], depth: int) -> object:
        """Return a list (or a tuple, for tuples) of the walked elements."""
        if depth >= self.masker.max_depth:
            return DEPTH_PLACEHOLDER
        if id(sequence) in self.active:
            return CYCLE_PLACEHOLDER
        self.active.add(id(sequence))
        try:
            result: list[object] = []
            for count, element in enumerate(sequence):
                if self.remaining_items <= 0:
                    result.append(_items_marker(_remaining(sequence, count)))
                    break
                self.remaining_items -= 1
                result.append(self.visit(element, depth + 1))
            return tuple(result) if isinstance(sequence, tuple) else result
        finally:
            self.active.discard(id(sequence))


def _remaining(container: object, visited: int) -> int | None:
    try:
        return len(container) - visited  # type: ignore[arg-type]
    except TypeError:
        return None
