"""MaskingFilter on real loggers and handlers: message, arguments, exceptions, stack and extras."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator

import pytest

from jivs_security.masking import Masker, MaskingFilter

SECRET_CARD = "4111 1111 1111 1111"
SECRET_MAIL = "bob@example.com"


class Capture(logging.Handler):
    """A handler that keeps each record and its formatted text."""

    def __init__(self, formatter: logging.Formatter | None = None) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []
        self.lines: list[str] = []
        self.setFormatter(formatter or logging.Formatter("%(levelname)s %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)
        self.lines.append(self.format(record))


@pytest.fixture
def logger(request: pytest.FixtureRequest) -> Iterator[logging.Logger]:
    """A fresh logger that does not propagate to the root logger."""
    instance = logging.getLogger(f"test.masking.{request.node.name}")
    instance.setLevel(logging.DEBUG)
    instance.propagate = False
    yield instance
    for handler in list(instance.handlers):
        instance.removeHandler(handler)
    for log_filter in list(instance.filters):
        instance.removeFilter(log_filter)


@pytest.fixture
def capture(logger: logging.Logger) -> Capture:
    handler = Capture()
    handler.addFilter(MaskingFilter())
    logger.addHandler(handler)
    return handler


class ExplodingMasker(Masker):
    """A masker that fails on text containing "boom", to test the fail-closed path."""

    def mask_text(self, text: str, *, limit: int | None = None) -> str:
        if "boom" in text:
            raise RuntimeError(f"could not mask {text}")
        return super().mask_text(text, limit=limit)


def test_args_rendered_and_masked(logger: logging.Logger, capture: Capture) -> None:
    """The message is rendered from msg % args, then masked."""
    logger.info("charged %s for %s", SECRET_CARD, SECRET_MAIL)

    assert capture.lines == ["INFO charged [REDACTED:card] for [REDACTED:email]"]


def test_args_cleared(logger: logging.Logger, capture: Capture) -> None:
    """After filtering, args is empty, so no handler receives the raw arguments."""
    logger.info("charged %s", SECRET_CARD)

    assert capture.records[0].args == ()


def test_mapping_argument_masked(logger: logging.Logger, capture: Capture) -> None:
    """Values of a mapping argument under sensitive keys are masked before rendering."""
    logger.info("login %(user)s with %(password)s", {"user": "bob", "password": "hunter2"})

    assert capture.lines == ["INFO login bob with [REDACTED:key]"]


def test_exception_text_masked(logger: logging.Logger, capture: Capture) -> None:
    """The traceback text of exc_info is masked, and exc_info is cleared."""
    try:
        raise ValueError(f"card {SECRET_CARD} declined")
    except ValueError:
        logger.exception("payment failed")

    assert SECRET_CARD not in capture.lines[0]


def test_exception_info_cleared(logger: logging.Logger, capture: Capture) -> None:
    """exc_info is removed, so no handler can render the exception object itself."""
    try:
        raise ValueError(f"card {SECRET_CARD} declined")
    except ValueError:
        logger.exception("payment failed")

    assert capture.records[0].exc_info is None


def test_exception_text_kept_masked(logger: logging.Logger, capture: Capture) -> None:
    """The masked traceback stays in exc_text, where formatters print it from."""
    try:
        raise ValueError(f"card {SECRET_CARD} declined")
    except ValueError:
        logger.exception("payment failed")

    assert "ValueError: card [REDACTED:card] declined" in (capture.records[0].exc_text or "")


def test_cached_exception_text_masked(logger: logging.Logger) -> None:
    """exc_text already rendered by an earlier handler is masked too."""
    first = Capture()
    second = Capture()
    second.addFilter(MaskingFilter())
    logger.addHandler(first)
    logger.addHandler(second)

    try:
        raise ValueError(f"mail {SECRET_MAIL}")
    except ValueError:
        logger.exception("failed")

    assert SECRET_MAIL not in second.lines[0]


def test_stack_info_masked(logger: logging.Logger, capture: Capture) -> None:
    """stack_info is masked."""

    def leak() -> None:
        _ = f"password={SECRET_MAIL}"
        logger.info("where", stack_info=True)

    leak()

    assert SECRET_MAIL not in (capture.records[0].stack_info or "")


def test_extra_fields_masked(logger: logging.Logger) -> None:
    """Every field passed in extra is masked, including nested ones."""
    handler = Capture(logging.Formatter("%(message)s user=%(user)s ctx=%(ctx)s"))
    handler.addFilter(MaskingFilter())
    logger.addHandler(handler)

    logger.info("order", extra={"user": SECRET_MAIL, "ctx": {"api_key": "k-123", "n": 2}})

    assert handler.lines == [
        "order user=[REDACTED:email] ctx={'api_key': '[REDACTED:key]', 'n': 2}"
    ]


def test_message_attribute_masked(logger: logging.Logger) -> None:
    """A message formatted by an earlier handler is masked in place as well."""
    first = Capture()
    second = Capture()
    second.addFilter(MaskingFilter())
    logger.addHandler(first)
    logger.addHandler(second)

    logger.info("mail %s", SECRET_MAIL)

    assert second.records[0].message == "mail [REDACTED:email]"


def test_second_filter_keeps_hash(logger: logging.Logger) -> None:
    """A record masked once is not masked again by a handler sharing the masker."""
    masker = Masker()
    first = Capture()
    second = Capture()
    first.addFilter(MaskingFilter(masker))
    second.addFilter(MaskingFilter(masker))
    logger.addHandler(first)
    logger.addHandler(second)

    logger.info("password=%s", "hunter2")

    assert first.lines == second.lines


def test_failure_withholds_record(logger: logging.Logger) -> None:
    """When masking raises, the record's message becomes a placeholder."""
    handler = Capture()
    handler.addFilter(MaskingFilter(ExplodingMasker()))
    logger.addHandler(handler)

    logger.info("boom %s", SECRET_CARD)

    assert handler.lines == ["INFO [log record withheld: masking failed with RuntimeError]"]


def test_failure_withholds_extras(logger: logging.Logger) -> None:
    """When masking raises, extra fields are replaced, and a format using them still works."""
    handler = Capture(logging.Formatter("%(message)s user=%(user)s"))
    handler.addFilter(MaskingFilter(ExplodingMasker()))
    logger.addHandler(handler)

    logger.info("boom", extra={"user": SECRET_MAIL})

    assert handler.lines[0].endswith("user=[REDACTED:masking failed]")


def test_failure_counted(logger: logging.Logger) -> None:
    """Each failure increments the filter's failure count."""
    masking_filter = MaskingFilter(ExplodingMasker())
    handler = Capture()
    handler.addFilter(masking_filter)
    logger.addHandler(handler)

    logger.info("boom")
    logger.info("fine")

    assert masking_filter.failures == 1


def test_failure_message_hides_secret(logger: logging.Logger) -> None:
    """The placeholder names the exception type only, not its message with the secret."""
    handler = Capture()
    handler.addFilter(MaskingFilter(ExplodingMasker()))
    logger.addHandler(handler)

    logger.info("boom %s", SECRET_CARD)

    assert SECRET_CARD not in handler.lines[0]


def test_bad_format_arguments_withheld(logger: logging.Logger) -> None:
    """A msg % args mismatch is withheld instead of printed raw by logging's error handler."""
    handler = Capture()
    # On the logger, so the filter runs before pytest's own capture
    # handlers, which would report the formatting error first.
    logger.addFilter(MaskingFilter())
    logger.addHandler(handler)

    logger.info("card %s %s", SECRET_CARD)  # noqa: PLE1206 - the mismatch under test.

    assert handler.lines == ["INFO [log record withheld: masking failed with TypeError]"]


def test_logger_filter_misses_child_records(logger: logging.Logger) -> None:
    """A filter on a parent logger does not see records that child loggers propagate."""
    on_logger = Capture()
    logger.addFilter(MaskingFilter())
    logger.addHandler(on_logger)
    child = logging.getLogger(f"{logger.name}.db")

    child.info("connect %s", SECRET_MAIL)

    assert on_logger.lines == [f"INFO connect {SECRET_MAIL}"]


def test_handler_filter_sees_child_records(logger: logging.Logger, capture: Capture) -> None:
    """A filter on the handler masks records that propagate from child loggers."""
    child = logging.getLogger(f"{logger.name}.db")

    child.info("connect %s", SECRET_MAIL)

    assert capture.lines == ["INFO connect [REDACTED:email]"]


def test_stream_handler_output_masked(logger: logging.Logger) -> None:
    """A standard StreamHandler writes only masked text."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(MaskingFilter())
    logger.addHandler(handler)

    try:
        raise KeyError(SECRET_MAIL)
    except KeyError:
        logger.exception("lookup of %s failed", SECRET_CARD)

    assert SECRET_MAIL not in stream.getvalue()
    assert SECRET_CARD not in stream.getvalue()
