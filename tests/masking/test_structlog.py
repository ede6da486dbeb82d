"""structlog_processor in real structlog pipelines, with exception renderers before it."""

from __future__ import annotations

import json
from typing import Any

import pytest
import structlog
from structlog.processors import JSONRenderer, StackInfoRenderer, dict_tracebacks, format_exc_info

from jivs_security.masking import Masker, structlog_processor

SECRET_CARD = "4111 1111 1111 1111"
SECRET_MAIL = "bob@example.com"


class ExplodingMasker(Masker):
    """A masker whose mapping masking always fails, to test the fail-closed path."""

    def mask_mapping(self, mapping: Any) -> dict[Any, object]:
        raise RuntimeError(f"could not mask {mapping}")


def render(processors: list[Any], method: str, event: str, **fields: Any) -> dict[str, Any]:
    """Log one event through ``processors`` plus JSONRenderer and return the decoded JSON."""
    logger = structlog.wrap_logger(
        structlog.ReturnLogger(), processors=[*processors, JSONRenderer()]
    )
    output = getattr(logger, method)(event, **fields)
    decoded: dict[str, Any] = json.loads(output)
    return decoded


def test_event_and_fields_masked() -> None:
    """The event text and every field are masked."""
    event = render(
        [structlog_processor()], "info", f"paid with {SECRET_CARD}", user=SECRET_MAIL, n=2
    )

    assert event == {"event": "paid with [REDACTED:card]", "user": "[REDACTED:email]", "n": 2}


def test_sensitive_field_masked() -> None:
    """A field under a sensitive key is masked whole."""
    event = render([structlog_processor()], "info", "login", password="hunter2")

    assert event["password"] == "[REDACTED:key]"


def test_nested_fields_masked() -> None:
    """Nested mappings in fields are masked by key and by pattern."""
    event = render(
        [structlog_processor()], "info", "call", request={"headers": {"Authorization": "Bearer x"}}
    )

    assert event["request"] == {"headers": {"Authorization": "[REDACTED:key]"}}


def test_formatted_exception_masked() -> None:
    """An exception rendered by format_exc_info is masked as text."""
    try:
        raise ValueError(f"declined {SECRET_CARD}")
    except ValueError:
        event = render([format_exc_info, structlog_processor()], "exception", "payment failed")

    assert "ValueError: declined [REDACTED:card]" in event["exception"]


def test_dict_traceback_masked() -> None:
    """A structured traceback from dict_tracebacks is masked, including frame locals."""
    try:
        raise KeyError(SECRET_MAIL)
    except KeyError:
        event = render([dict_tracebacks, structlog_processor()], "exception", "lookup failed")

    assert SECRET_MAIL not in json.dumps(event)


def test_exc_info_rendered_when_left() -> None:
    """An exc_info field left by the pipeline is rendered, masked and removed."""
    try:
        raise ValueError(f"declined {SECRET_CARD}")
    except ValueError:
        event = render([structlog_processor()], "info", "failed", exc_info=True)

    assert "exc_info" not in event
    assert "declined [REDACTED:card]" in event["exception"]


def test_exception_object_rendered() -> None:
    """An exception object given as exc_info is rendered and masked."""
    error = ValueError(f"declined {SECRET_CARD}")

    event = render([structlog_processor()], "info", "failed", exc_info=error)

    assert SECRET_CARD not in event["exception"]


def test_stack_info_masked() -> None:
    """The stack rendered by StackInfoRenderer is masked."""
    marker = f"password={SECRET_MAIL}"

    event = render([StackInfoRenderer(), structlog_processor()], "info", marker, stack_info=True)

    assert SECRET_MAIL not in json.dumps(event)


def test_failure_withholds_event() -> None:
    """When masking raises, only a placeholder event and the level are kept."""
    processors = [structlog.processors.add_log_level, structlog_processor(ExplodingMasker())]

    event = render(processors, "warning", f"paid {SECRET_CARD}", user=SECRET_MAIL)

    assert event == {
        "event": "[log event withheld: masking failed with RuntimeError]",
        "level": "warning",
    }


def test_processor_needs_no_structlog_import() -> None:
    """The processor is a plain callable that works on a dict without structlog."""
    processor = structlog_processor(Masker())

    assert processor(None, "info", {"event": SECRET_MAIL}) == {"event": "[REDACTED:email]"}


@pytest.mark.parametrize("value", [None, False])
def test_empty_exc_info_dropped(value: object) -> None:
    """An exc_info of None or False is dropped without adding an exception field."""
    processor = structlog_processor(Masker())

    assert processor(None, "info", {"event": "x", "exc_info": value}) == {"event": "x"}
