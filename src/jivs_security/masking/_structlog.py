"""A structlog processor that masks event dicts, including rendered exceptions.

The processor is a plain callable with structlog's processor signature, so
this module does not import structlog, and the package works without it.
"""

from __future__ import annotations

import sys
import traceback
from collections.abc import Callable, MutableMapping
from types import TracebackType
from typing import Any, Final

from jivs_security.masking._masker import Masker

__all__ = ["EventDict", "Processor", "structlog_processor"]

EventDict = MutableMapping[str, Any]
Processor = Callable[[Any, str, EventDict], EventDict]

# Level names kept in a withheld event, so it still sorts and alerts by level.
_LEVELS: Final = frozenset({"debug", "info", "warning", "warn", "error", "critical", "exception"})

_ExcInfo = tuple[type[BaseException], BaseException, TracebackType | None]


def structlog_processor(masker: Masker | None = None) -> Processor:
    """Return a structlog processor that masks every value of the event dict with ``masker``.

    Put it after the processors that render exceptions and stack
    information (``format_exc_info``, ``dict_tracebacks``,
    ``StackInfoRenderer``) and before the final renderer, so that the
    ``exception`` and ``stack`` fields they produce are masked as text or
    as nested dicts. An ``exc_info`` field still present is rendered here
    into ``exception`` with :func:`traceback.format_exception` (unless an
    ``exception`` field is already there) and removed, so no exception
    object reaches the renderer.

    If masking raises, the processor returns an event that holds only a
    placeholder ``event`` and, when it is a known level name, ``level``.
    """
    active = Masker() if masker is None else masker

    def mask_event(logger: Any, method_name: str, event_dict: EventDict) -> EventDict:
        try:
            return _masked_event(active, event_dict)
        except Exception as error:  # noqa: BLE001 - any failure must withhold the event.
            return _withheld_event(event_dict, type(error).__name__)

    return mask_event


def _masked_event(masker: Masker, event_dict: EventDict) -> EventDict:
    fields = dict(event_dict)
    exception = _exception_info(fields.pop("exc_info", None))
    # An ``exception`` field means an exception renderer already ran.
    if exception is not None and "exception" not in fields:
        fields["exception"] = "".join(traceback.format_exception(*exception))
    return masker.mask_mapping(fields)


def _exception_info(exc_info: object) -> _ExcInfo | None:
    """Return the exception tuple that a structlog ``exc_info`` field stands for, if any."""
    if exc_info is None or exc_info is False:
        return None
    if isinstance(exc_info, BaseException):
        return (type(exc_info), exc_info, exc_info.__traceback__)
    if isinstance(exc_info, tuple) and len(exc_info) == 3 and exc_info[1] is not None:
        return (exc_info[0], exc_info[1], exc_info[2])
    current = sys.exc_info()
    if current[1] is None:
        return None
    return (type(current[1]), current[1], current[2])


def _withheld_event(event_dict: EventDict, error_type: str) -> EventDict:
    withheld: EventDict = {"event": f"[log event withheld: masking failed with {error_type}]"}
    level = event_dict.get("level")
    if isinstance(level, str) and level.lower() in _LEVELS:
        withheld["level"] = level
    return withheld
