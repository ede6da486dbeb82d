"""MaskingFilter: a logging filter that masks each record before a handler formats it."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any, Final

from jivs_security.masking._masker import Masker

__all__ = ["MaskingFilter"]

# Attributes every LogRecord has, plus the two that Formatter.format adds;
# any other attribute came from ``extra=`` or from a filter, and is masked.
_STANDARD_ATTRIBUTES: Final = frozenset(
    logging.LogRecord("", logging.INFO, "", 0, "", (), None).__dict__
) | {"message", "asctime"}

# Set on a record once it is masked, so that a second handler with the same
# filter does not mask the placeholders again (a keyed hash of a
# placeholder would differ from the first one).
_MASKED_BY: Final = "_jivs_masked_by"

_WITHHELD: Final = "[REDACTED:masking failed]"


class MaskingFilter(logging.Filter):
    """Mask every part of a log record that a formatter can print; attach it to handlers.

    The filter renders ``msg % args`` once, masks the result, stores it as
    ``msg`` and clears ``args``. Values of a mapping argument are masked by
    key before rendering, because ``%(password)s`` leaves no key in the
    text. The exception in ``exc_info`` is rendered with
    :meth:`logging.Formatter.formatException`, masked, and stored in
    ``exc_text``, and ``exc_info`` is cleared, so a formatter prints the
    masked text and no handler receives the exception object. ``stack_info`` and
    every attribute that came from ``extra=`` are masked too.

    Attach it to each **handler** (``handler.addFilter(MaskingFilter())``),
    not to a logger: a logger's filters run only for records logged through
    that very logger, never for records that propagate up from its children,
    so a filter on the root logger misses ``logging.getLogger("app.db")``.

    When masking raises, the record is not passed on as it was: its message
    becomes a placeholder naming the exception type, its arguments and
    exception are removed, each extra field is replaced by a placeholder,
    and ``failures`` is incremented.
    The filter never drops a record and never logs by itself, which could
    loop through the same filter.
    """

    def __init__(self, masker: Masker | None = None, name: str = "") -> None:
        super().__init__(name)
        self.masker = Masker() if masker is None else masker
        self.failures = 0
        self._formatter = logging.Formatter()

    def filter(self, record: logging.LogRecord) -> bool:
        """Mask ``record`` in place, or replace its content with a placeholder; return True."""
        if not super().filter(record):
            return False
        if record.__dict__.get(_MASKED_BY) is self.masker:
            return True
        try:
            self._mask(record)
        except Exception as error:  # noqa: BLE001 - any failure must withhold the record.
            self.failures += 1
            _withhold(record, type(error).__name__)
        record.__dict__[_MASKED_BY] = self.masker
        return True

    def _render(self, record: logging.LogRecord) -> str:
        """Return ``msg % args`` as LogRecord.getMessage does, with sensitive mapping keys masked.

        Once ``%(password)s`` is rendered, the text no longer shows which
        value came from which key, so values of a mapping argument are
        masked by key before rendering.
        """
        message = str(record.msg)
        if not record.args:
            return message
        if isinstance(record.args, Mapping):
            return message % _sensitive_values_masked(self.masker, record.args)
        return message % record.args

    def _mask(self, record: logging.LogRecord) -> None:
        masker = self.masker
        message = masker.mask_text(self._render(record))
        exception_text = None
        if record.exc_info:
            exception_text = masker.mask_text(self._formatter.formatException(record.exc_info))
        elif record.exc_text:
            exception_text = masker.mask_text(record.exc_text)
        stack = masker.mask_text(record.stack_info) if record.stack_info else record.stack_info
        extras = {
            name: masker.mask(value)
            for name, value in record.__dict__.items()
            if name not in _STANDARD_ATTRIBUTES and name != _MASKED_BY
        }
        # Every part is masked before any is written back, so a failure
        # part-way leaves nothing half-masked for _withhold to miss.
        record.msg = message
        record.args = ()
        record.exc_info = None
        record.exc_text = exception_text
        record.stack_info = stack
        if "message" in record.__dict__:
            record.message = message
        record.__dict__.update(extras)


def _sensitive_values_masked(masker: Masker, args: Mapping[Any, object]) -> dict[Any, object]:
    return {
        key: masker.mask_secret(value)
        if isinstance(key, str) and masker.is_sensitive_key(key)
        else value
        for key, value in args.items()
    }


def _withhold(record: logging.LogRecord, error_type: str) -> None:
    """Replace everything a formatter could print from ``record`` with a fixed placeholder."""
    placeholder = f"[log record withheld: masking failed with {error_type}]"
    # Extra fields keep their names, so a format string that uses them
    # still renders, but not their values.
    for name in record.__dict__:
        if name not in _STANDARD_ATTRIBUTES and name != _MASKED_BY:
            record.__dict__[name] = _WITHHELD
    record.msg = placeholder
    record.args = ()
    record.exc_info = None
    record.exc_text = None
    record.stack_info = None
    if "message" in record.__dict__:
        record.message = placeholder
