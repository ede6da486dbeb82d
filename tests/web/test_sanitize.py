"""sanitize_html, escape_text and SanitizerPolicy: what is kept, removed or refused."""

from __future__ import annotations

import html.parser

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from jivs_security.errors import ConfigurationError
from jivs_security.web import (
    DEFAULT_SANITIZER_POLICY,
    SanitizerPolicy,
    escape_text,
    sanitize_html,
)


class TagCollector(html.parser.HTMLParser):
    """Collects the tags and attributes of serialised HTML, with the standard library's parser."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[str] = []
        self.attributes: list[tuple[str, str, str | None]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.attributes.extend((tag, name, value) for name, value in attrs)


def collect(markup: str) -> TagCollector:
    collector = TagCollector()
    collector.feed(markup)
    collector.close()
    return collector


# Pieces of markup that hypothesis joins into HTML-like input.
MARKUP_PIECES = st.sampled_from(
    [
        "<", ">", "/", '"', "'", "=", "&", "&#x6A;", ";", "\t", "\n", " ", "!--", "--",
        "a", "p", "b", "x", "img", "svg", "math", "mtext", "mglyph", "table", "style",
        "script", "noscript", "title", "textarea", "template", "iframe", "href", "src",
        "onerror", "onclick", "javascript:", "data:", "alert(1)", "http://x", ":",
    ]
)  # fmt: skip


def test_default_keeps_formatting() -> None:
    """Paragraphs, emphasis, lists and code come through unchanged."""
    markup = "<p>Hi <b>there</b> <em>you</em></p><ul><li><code>x &lt; y</code></li></ul>"

    assert sanitize_html(markup) == markup


def test_default_sets_link_rel() -> None:
    """Every link gets rel="noopener noreferrer"."""
    cleaned = sanitize_html('<a href="https://example.com/">x</a>')

    assert cleaned == '<a href="https://example.com/" rel="noopener noreferrer">x</a>'


def test_default_replaces_given_rel() -> None:
    """A rel from the input is dropped in favour of the policy's."""
    cleaned = sanitize_html('<a href="/x" rel="opener">x</a>')

    assert cleaned == '<a href="/x" rel="noopener noreferrer">x</a>'


@pytest.mark.parametrize(
    "href",
    ["https://example.com/a?b=c", "http://example.com/", "mailto:someone@example.com", "/path"],
)
def test_default_keeps_allowed_urls(href: str) -> None:
    """http, https and mailto URLs and relative ones are kept."""
    collector = collect(sanitize_html(f'<a href="{href}">x</a>'))

    assert ("a", "href", href) in collector.attributes


@pytest.mark.parametrize(
    "href",
    [
        "javascript:alert(1)",
        "JaVaScRiPt:alert(1)",
        "&#106;avascript:alert(1)",
        "java&#x09;script:alert(1)",
        " javascript:alert(1)",
        "&#x01;javascript:alert(1)",
        "data:text/html,<script>alert(1)</script>",
        "vbscript:msgbox(1)",
        "tel:123",
    ],
)
def test_default_drops_other_schemes(href: str) -> None:
    """Script-capable and unlisted schemes are removed, however they are encoded."""
    collector = collect(sanitize_html(f'<a href="{href}">x</a>'))

    assert not [name for _, name, _ in collector.attributes if name == "href"]


def test_default_removes_script_content() -> None:
    """A script element is removed with its content."""
    assert sanitize_html("<p>a<script>alert(1)</script>b</p>") == "<p>ab</p>"


def test_default_removes_style_content() -> None:
    """A style element is removed with its content."""
    assert sanitize_html("<style>p{color:red}</style><p>a</p>") == "<p>a</p>"


def test_default_removes_event_handlers() -> None:
    """Event handler attributes are removed from allowed tags."""
    assert sanitize_html("<p onclick=alert(1) onmouseover=alert(2)>a</p>") == "<p>a</p>"


def test_default_removes_style_attribute() -> None:
    """Inline CSS is removed."""
    assert sanitize_html('<p style="position:fixed">a</p>') == "<p>a</p>"


def test_default_removes_comments() -> None:
    """Comments are removed, so conditional comments cannot come through."""
    assert sanitize_html("<p>a<!--[if IE]><script>x</script><![endif]--></p>") == "<p>a</p>"


def test_default_keeps_text_of_unknown_tags() -> None:
    """A tag outside the policy is removed but its text stays."""
    assert sanitize_html("<blink>hello</blink>") == "hello"


def test_default_escapes_text() -> None:
    """Text that looks like markup is escaped in the output."""
    assert sanitize_html("a < b & c > d") == "a &lt; b &amp; c &gt; d"


def test_lone_surrogate_becomes_replacement() -> None:
    """A lone surrogate is replaced by U+FFFD instead of raising."""
    assert sanitize_html("<p>a\ud800b</p>") == "<p>a\ufffdb</p>"


def test_sanitize_rejects_bytes() -> None:
    """Bytes are refused with a hint to decode them first."""
    with pytest.raises(TypeError, match="decode bytes"):
        sanitize_html(b"<p>x</p>")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "vector",
    [
        '<noscript><p title="</noscript><img src=x onerror=alert(1)>">',
        '<svg></p><style><a id="</style><img src=1 onerror=alert(1)>">',
        "<math><mtext><table><mglyph><style><!--</style>"
        '<img title="--&gt;&lt;/mglyph&gt;&lt;img&Tab;src=1&Tab;onerror=alert(1)&gt;">',
        "<form><math><mtext></form><form><mglyph><style></math><img src onerror=alert(1)>",
        '<xmp><p title="</xmp><img src=x onerror=alert(1)>">',
        '<textarea><p title="</textarea><img src=x onerror=alert(1)>">',
        "<!--><img src=x onerror=alert(1)>-->",
        "<svg><foreignObject><img src=x onerror=alert(1)></foreignObject></svg>",
        "<math><mtext><img src=x onerror=alert(1)></mtext></math>",
    ],
)
def test_mutation_shapes_leave_no_element(vector: str) -> None:
    """Known mutation-XSS shapes come out without any element or handler."""
    cleaned = sanitize_html(vector)
    collector = collect(cleaned)

    assert set(collector.tags) <= {"p"}, cleaned
    assert "onerror" not in [name for _, name, _ in collector.attributes], cleaned


@settings(max_examples=300, deadline=None)
@given(st.lists(MARKUP_PIECES, max_size=40).map("".join))
def test_output_is_a_fixed_point(markup: str) -> None:
    """Sanitising the output again changes nothing, so a second parse gets what was checked."""
    once = sanitize_html(markup)

    assert sanitize_html(once) == once


@settings(max_examples=300, deadline=None)
@given(st.lists(MARKUP_PIECES, max_size=40).map("".join))
def test_output_stays_within_policy(markup: str) -> None:
    """Every tag and attribute in the output is one the default policy allows."""
    collector = collect(sanitize_html(markup))
    policy = DEFAULT_SANITIZER_POLICY
    allowed_everywhere = policy.attributes["*"]

    for tag in collector.tags:
        assert tag in policy.tags
    for tag, name, _ in collector.attributes:
        allowed = allowed_everywhere | policy.attributes.get(tag, frozenset()) | {"rel"}
        assert name in allowed, (tag, name)


def test_escape_text_escapes_markup_characters() -> None:
    """The five characters that can start markup or end an attribute are escaped."""
    assert escape_text("<a href='x'>\"&\"</a>") == (
        "&lt;a href=&#x27;x&#x27;&gt;&quot;&amp;&quot;&lt;/a&gt;"
    )


def test_escape_text_keeps_plain_text() -> None:
    """Text without special characters is returned as is."""
    assert escape_text("plain text, 100%") == "plain text, 100%"


def test_escape_text_rejects_bytes() -> None:
    """Bytes are refused."""
    with pytest.raises(TypeError, match="takes str"):
        escape_text(b"x")  # type: ignore[arg-type]


def test_policy_with_images_filters_src() -> None:
    """A policy that allows img keeps https sources and drops javascript: ones."""
    policy = SanitizerPolicy(tags={"img"}, attributes={"img": {"src", "alt"}})

    kept = sanitize_html('<img src="https://example.com/a.png" alt="a">', policy)
    dropped = sanitize_html('<img src="javascript:alert(1)" alt="a">', policy)

    assert kept == '<img src="https://example.com/a.png" alt="a">'
    assert dropped == '<img alt="a">'


@pytest.mark.parametrize(
    ("cite", "kept"),
    [
        ("https://example.com/source", True),
        ("/relative/source", True),
        ("javascript:alert(1)", False),
        ("java&#x09;script:alert(1)", False),
        (" &#x01;JAVASCRIPT:alert(1)", False),
        ("data:text/html,x", False),
    ],
)
def test_policy_checks_cite_scheme(cite: str, kept: bool) -> None:
    """cite, which nh3 does not check itself, keeps only allowed schemes."""
    policy = SanitizerPolicy(tags={"blockquote"}, attributes={"blockquote": {"cite"}})

    collector = collect(sanitize_html(f'<blockquote cite="{cite}">q</blockquote>', policy))

    assert bool(collector.attributes) is kept


def test_policy_checks_srcset_schemes() -> None:
    """A srcset with one script URL among its candidates is dropped whole."""
    policy = SanitizerPolicy(tags={"img"}, attributes={"img": {"src", "srcset"}})

    kept = sanitize_html('<img srcset="a.png 1x, https://example.com/b.png 2x">', policy)
    dropped = sanitize_html('<img srcset="a.png 1x, javascript:alert(1) 2x">', policy)

    assert kept == '<img srcset="a.png 1x, https://example.com/b.png 2x">'
    assert dropped == "<img>"


def test_policy_allowed_classes_filter() -> None:
    """Only the listed classes stay in a class attribute."""
    policy = SanitizerPolicy(tags={"span"}, allowed_classes={"span": {"note"}})

    assert sanitize_html('<span class="note evil">x</span>', policy) == (
        '<span class="note">x</span>'
    )


def test_policy_id_prefix_applied() -> None:
    """With an id_prefix, ids are kept with the prefix in front."""
    policy = SanitizerPolicy(tags={"h2"}, attributes={"h2": {"id"}}, id_prefix="user-content-")

    assert sanitize_html('<h2 id="top">x</h2>', policy) == '<h2 id="user-content-top">x</h2>'


def test_policy_custom_link_rel() -> None:
    """A link_rel with extra link types is used as given."""
    policy = SanitizerPolicy(
        tags={"a"}, attributes={"a": {"href"}}, link_rel="nofollow ugc noopener"
    )

    assert sanitize_html('<a href="/x">x</a>', policy) == (
        '<a href="/x" rel="nofollow ugc noopener">x</a>'
    )


@pytest.mark.parametrize(
    "tag",
    ["script", "style", "iframe", "object", "embed", "svg", "math", "noscript", "template",
     "form", "input", "textarea", "select", "base", "meta", "link", "xmp", "title"],
)  # fmt: skip
def test_policy_rejects_forbidden_tag(tag: str) -> None:
    """No policy may allow an element that runs script or parses differently."""
    with pytest.raises(ConfigurationError, match="no policy may allow") as caught:
        SanitizerPolicy(tags={"p", tag})

    assert caught.value.setting == "tags"
    assert caught.value.value == [tag]


@pytest.mark.parametrize(
    "attribute", ["onclick", "onerror", "style", "srcdoc", "formaction", "name", "xmlns"]
)
def test_policy_rejects_forbidden_attribute(attribute: str) -> None:
    """No policy may allow event handlers, inline CSS or the other listed attributes."""
    with pytest.raises(ConfigurationError) as caught:
        SanitizerPolicy(tags={"p"}, attributes={"p": {attribute}})

    assert caught.value.value == attribute


def test_policy_rejects_rel_attribute() -> None:
    """rel cannot be allowed, because link_rel sets it."""
    with pytest.raises(ConfigurationError, match="link_rel"):
        SanitizerPolicy(tags={"a"}, attributes={"a": {"href", "rel"}})


def test_policy_rejects_unprefixed_id() -> None:
    """id needs an id_prefix, against DOM clobbering."""
    with pytest.raises(ConfigurationError, match="DOM clobbering"):
        SanitizerPolicy(tags={"h2"}, attributes={"h2": {"id"}})


@pytest.mark.parametrize("scheme", ["javascript", "data", "vbscript", "blob"])
def test_policy_rejects_script_scheme(scheme: str) -> None:
    """Script-capable URL schemes cannot be allowed."""
    with pytest.raises(ConfigurationError) as caught:
        SanitizerPolicy(tags={"a"}, attributes={"a": {"href"}}, url_schemes={"https", scheme})

    assert caught.value.setting == "url_schemes"


@pytest.mark.parametrize("link_rel", ["", "nofollow", "noopener\r\nX: y", "NoOpener"])
def test_policy_rejects_weak_link_rel(link_rel: str) -> None:
    """link_rel must hold noopener or noreferrer, as plain link types."""
    with pytest.raises(ConfigurationError) as caught:
        SanitizerPolicy(tags={"a"}, link_rel=link_rel)

    assert caught.value.setting == "link_rel"


def test_policy_rejects_class_with_allowed_classes() -> None:
    """class in attributes and allowed_classes for one tag conflict."""
    with pytest.raises(ConfigurationError, match="allowed_classes"):
        SanitizerPolicy(
            tags={"span"}, attributes={"span": {"class"}}, allowed_classes={"span": {"a"}}
        )


def test_policy_rejects_attributes_of_absent_tag() -> None:
    """Attributes for a tag that is not kept are a configuration mistake."""
    with pytest.raises(ConfigurationError, match="not kept") as caught:
        SanitizerPolicy(tags={"p"}, attributes={"a": {"href"}})

    assert caught.value.value == "a"


def test_policy_rejects_string_of_tags() -> None:
    """A single string is refused, because it would be read as one tag per letter."""
    with pytest.raises(ConfigurationError, match="not one string"):
        SanitizerPolicy(tags="p")


def test_policy_rejects_upper_case_tag() -> None:
    """Tag names are lower-case ASCII."""
    with pytest.raises(ConfigurationError, match="lower-case"):
        SanitizerPolicy(tags={"P"})


def test_policy_repr_lists_settings() -> None:
    """The repr shows tags, schemes and link_rel."""
    policy = SanitizerPolicy(tags={"a"}, attributes={"a": {"href"}})

    assert repr(policy) == (
        "SanitizerPolicy(tags=['a'], attributes={'a': ['href']}, "
        "url_schemes=['http', 'https', 'mailto'], link_rel='noopener noreferrer')"
    )
