"""HTML sanitising of untrusted fragments with nh3, and escaping of plain text.

:func:`sanitize_html` parses a fragment with nh3, the Python binding of the
Rust crate ammonia, whose html5ever parser follows the HTML Standard's
parsing algorithm, and keeps only the tags, attributes and URL schemes that
a :class:`SanitizerPolicy` allows. The result is serialised again, so what
the browser parses is what was checked.

This library does not use bleach. bleach 6.4.0 (June 5th, 2026), its final
release, states in its changelog and README: "Bleach is no longer
maintained. There will be no future releases including for security
issues." A sanitizer that gets no security fixes is not one to build on.

A policy cannot allow what would run script or change how later markup is
parsed, whatever the caller passes. Building a policy that allows
script-capable or raw-text elements, SVG, MathML, event handlers, style
attributes or script-capable URL schemes raises ConfigurationError.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable, Mapping
from types import MappingProxyType
from typing import TYPE_CHECKING, Final

from jivs_security.errors import ConfigurationError

if TYPE_CHECKING:
    import nh3

__all__ = ["DEFAULT_SANITIZER_POLICY", "SanitizerPolicy", "escape_text", "sanitize_html"]

# Elements no policy may allow, and why:
# - they run script or embed active content: script, iframe, frame, frameset,
#   object, embed, applet, portal, fencedframe;
# - they change the document around them: base (URL resolution), meta
#   (refresh, CSP), link (style sheets, preloads), style (CSS), title;
# - they submit or take input, which invites phishing and CSRF: form, input,
#   button, textarea, select, option, optgroup, datalist, keygen;
# - their content is parsed as raw text or differently with and without
#   script, the source of mutation XSS: noscript, noembed, noframes, xmp,
#   plaintext, template, textarea, title, iframe;
# - they switch the parser to foreign content, where the same markup means
#   something else: svg, math.
FORBIDDEN_TAGS: Final = frozenset(
    {
        "applet",
        "base",
        "button",
        "datalist",
        "embed",
        "fencedframe",
        "form",
        "frame",
        "frameset",
        "iframe",
        "input",
        "keygen",
        "link",
        "math",
        "meta",
        "noembed",
        "noframes",
        "noscript",
        "object",
        "optgroup",
        "option",
        "param",
        "plaintext",
        "portal",
        "script",
        "select",
        "style",
        "svg",
        "template",
        "textarea",
        "title",
        "xmp",
    }
)

# Attributes no policy may allow: inline CSS (UI redressing and data theft
# through url()), nested documents, form targets, namespace and custom
# element switches, and "name", which lets markup overwrite properties of
# document and window (DOM clobbering). "id" is allowed only with an
# id_prefix for the same reason. Event handlers (on*) are rejected by prefix.
FORBIDDEN_ATTRIBUTES: Final = frozenset(
    {
        "action",
        "formaction",
        "is",
        "name",
        "srcdoc",
        "style",
        "xlink:href",
        "xmlns",
    }
)

# URL schemes that run script or wrap a document of the author's choice.
FORBIDDEN_URL_SCHEMES: Final = frozenset(
    {"blob", "data", "filesystem", "javascript", "livescript", "vbscript"}
)

# Attributes whose value is a URL, or a list of URLs, but that nh3 0.3.8
# (ammonia 4.2.5) does not check against url_schemes. Tested: it checks href,
# src, ping, poster and formaction, and action, data, background and manifest
# only on form, object, body or td, and html. A policy that allows one of
# these gets a filter that checks its scheme in Python, at some cost.
_UNCHECKED_URL_ATTRIBUTES: Final = frozenset(
    {"archive", "cite", "classid", "codebase", "dynsrc", "itemid", "itemtype", "longdesc",
     "lowsrc", "usemap"}
)  # fmt: skip
_UNCHECKED_URL_LIST_ATTRIBUTES: Final = frozenset({"imagesrcset", "srcset"})

# The scheme of a URL, after the URL parser has dropped leading C0 controls
# and spaces and every tab and newline (WHATWG URL Standard, basic URL parser).
_URL_SCHEME: Final = re.compile(r"([A-Za-z][A-Za-z0-9+.\-]*):")
_URL_LEADING: Final = "".join(chr(code) for code in range(0x21))
_URL_IGNORED: Final = str.maketrans("", "", "\t\n\r")

_NAME: Final = re.compile(r"[a-z][a-z0-9-]*")
_ATTRIBUTE_NAME: Final = re.compile(r"[a-z][a-z0-9_:.-]*")
_SCHEME: Final = re.compile(r"[a-z][a-z0-9+.-]*")
_REL_TOKEN: Final = re.compile(r"[a-z][a-z0-9-]*")
_ID_PREFIX: Final = re.compile(r"[A-Za-z][A-Za-z0-9_-]*")


class SanitizerPolicy:
    """The tags, attributes and URL schemes that :func:`sanitize_html` keeps.

    ``tags`` are lower-case element names. Every other element is removed
    and its text kept, except that the content of ``script`` and ``style``
    is dropped as well. ``attributes`` maps a tag, or ``"*"`` for every
    tag, to the attribute names kept on it. URL attributes such as ``href``
    keep only relative URLs and absolute ones whose scheme is in
    ``url_schemes``. Every ``a`` element gets ``rel`` set to ``link_rel``,
    which must contain ``noopener`` or ``noreferrer`` (so a page opened from
    a link cannot reach back through ``window.opener``); ``rel`` itself may
    therefore not be in ``attributes``. ``allowed_classes`` maps a tag to
    the class names kept in its ``class`` attribute. ``id`` attributes are
    allowed only with an ``id_prefix``, which is put in front of each id so
    that user content cannot claim the ids of the page around it.

    The policy is checked once, in the constructor; a
    :class:`~jivs_security.errors.ConfigurationError` names the setting and
    value that failed. The nh3 cleaner is built at the first
    :meth:`clean` and reused.
    """

    __slots__ = (
        "_allowed_classes",
        "_attributes",
        "_cleaner",
        "_id_prefix",
        "_link_rel",
        "_strip_comments",
        "_tags",
        "_url_schemes",
    )

    def __init__(
        self,
        *,
        tags: Iterable[str],
        attributes: Mapping[str, Iterable[str]] | None = None,
        url_schemes: Iterable[str] = ("http", "https", "mailto"),
        link_rel: str = "noopener noreferrer",
        allowed_classes: Mapping[str, Iterable[str]] | None = None,
        id_prefix: str | None = None,
        strip_comments: bool = True,
    ) -> None:
        self._tags = _check_tags(tags)
        self._attributes = _check_attributes(attributes or {}, self._tags, id_prefix)
        self._url_schemes = _check_schemes(url_schemes)
        self._link_rel = _check_link_rel(link_rel)
        self._allowed_classes = _check_classes(allowed_classes or {}, self._tags, self._attributes)
        if id_prefix is not None and not _ID_PREFIX.fullmatch(id_prefix):
            raise _bad(
                "id_prefix",
                id_prefix,
                "a letter followed by letters, digits, '_' or '-', such as 'user-content-'",
            )
        self._id_prefix = id_prefix
        self._strip_comments = bool(strip_comments)
        # Built on first use, so that importing this module does not need nh3.
        self._cleaner: nh3.Cleaner | None = None

    @property
    def tags(self) -> frozenset[str]:
        """The element names kept."""
        return self._tags

    @property
    def attributes(self) -> Mapping[str, frozenset[str]]:
        """The attribute names kept, by tag, with ``"*"`` for every tag."""
        return self._attributes

    @property
    def url_schemes(self) -> frozenset[str]:
        """The schemes kept in absolute URLs."""
        return self._url_schemes

    @property
    def link_rel(self) -> str:
        """The ``rel`` value set on every link."""
        return self._link_rel

    def clean(self, fragment: str) -> str:
        """Return ``fragment`` with everything this policy does not allow removed."""
        cleaner = self._cleaner
        if cleaner is None:
            # Two threads may both build one; either result is the same.
            cleaner = self._cleaner = self._build_cleaner()
        try:
            return cleaner.clean(fragment)
        except UnicodeEncodeError:
            # A lone surrogate cannot be encoded for the parser. The HTML
            # Standard's decoder turns such input into U+FFFD, so do the same.
            repaired = fragment.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
            return cleaner.clean(repaired)

    def __repr__(self) -> str:
        return (
            f"SanitizerPolicy(tags={sorted(self._tags)!r}, "
            f"attributes={ {tag: sorted(names) for tag, names in self._attributes.items()}!r}, "
            f"url_schemes={sorted(self._url_schemes)!r}, link_rel={self._link_rel!r})"
        )

    def _build_cleaner(self) -> nh3.Cleaner:
        try:
            import nh3  # noqa: PLC0415  (an optional dependency)
        except ImportError:
            raise ConfigurationError(
                "sanitize_html needs the nh3 package; install it with: pip install 'jivs[web]'",
                setting="tags",
                expected="the web extra installed",
            ) from None
        allowed = set().union(*self._attributes.values())
        needs_filter = allowed & (_UNCHECKED_URL_ATTRIBUTES | _UNCHECKED_URL_LIST_ATTRIBUTES)
        return nh3.Cleaner(
            tags=set(self._tags),
            attributes={tag: set(names) for tag, names in self._attributes.items()},
            attribute_filter=self._filter_url_attribute if needs_filter else None,
            url_schemes=set(self._url_schemes),
            link_rel=self._link_rel,
            allowed_classes={tag: set(names) for tag, names in self._allowed_classes.items()},
            id_prefix=self._id_prefix,
            strip_comments=self._strip_comments,
        )

    def _filter_url_attribute(self, tag: str, attribute: str, value: str) -> str | None:
        """Return ``value``, or None to drop an attribute whose URL has a scheme not allowed."""
        if attribute in _UNCHECKED_URL_ATTRIBUTES:
            return value if self._allows_url(value) else None
        if attribute in _UNCHECKED_URL_LIST_ATTRIBUTES:
            # A srcset candidate is a URL, then an optional width or density.
            candidates = [candidate.split() for candidate in value.split(",")]
            urls = [parts[0] for parts in candidates if parts]
            return value if all(self._allows_url(url) for url in urls) else None
        return value

    def _allows_url(self, url: str) -> bool:
        cleaned = url.lstrip(_URL_LEADING).translate(_URL_IGNORED)
        scheme = _URL_SCHEME.match(cleaned)
        # Without a scheme the URL is relative to the page, which is allowed.
        return scheme is None or scheme.group(1).lower() in self._url_schemes


def _bad(setting: str, value: object, expected: str, reason: str = "") -> ConfigurationError:
    return ConfigurationError(
        f"{setting} must be {expected}, got {value!r}{reason}",
        setting=setting,
        expected=expected,
        value=value,
    )


def _names(setting: str, values: Iterable[str], pattern: re.Pattern[str]) -> frozenset[str]:
    if isinstance(values, str):
        raise _bad(setting, values, "a collection of names, not one string")
    names = frozenset(values)
    for name in names:
        if not isinstance(name, str) or not pattern.fullmatch(name):
            raise _bad(setting, name, "lower-case ASCII names")
    return names


def _check_tags(tags: Iterable[str]) -> frozenset[str]:
    names = _names("tags", tags, _NAME)
    forbidden = sorted(names & FORBIDDEN_TAGS)
    if forbidden:
        raise _bad(
            "tags",
            forbidden,
            "free of elements that run script, load active content, submit forms, switch to "
            "SVG or MathML parsing or hold raw text",
            "; no policy may allow these, because each can run script or let the browser "
            "parse the output differently from the sanitizer",
        )
    return names


def _check_attributes(
    attributes: Mapping[str, Iterable[str]], tags: frozenset[str], id_prefix: str | None
) -> Mapping[str, frozenset[str]]:
    checked: dict[str, frozenset[str]] = {}
    for tag, values in attributes.items():
        if tag != "*" and tag not in tags:
            raise _bad(
                "attributes",
                tag,
                "keyed by '*' or by a tag in tags",
                "; attributes of a tag that is not kept would never be used",
            )
        names = _names(f"attributes[{tag!r}]", values, _ATTRIBUTE_NAME)
        for name in sorted(names):
            if name.startswith("on") or name in FORBIDDEN_ATTRIBUTES:
                raise _bad(
                    f"attributes[{tag!r}]",
                    name,
                    "free of event handlers (on*) and of "
                    f"{', '.join(sorted(FORBIDDEN_ATTRIBUTES))}",
                    "; these run script, carry CSS or let markup overwrite page globals",
                )
            if name == "rel":
                raise _bad(
                    f"attributes[{tag!r}]",
                    name,
                    "free of 'rel'",
                    "; the sanitizer sets rel on every link to link_rel",
                )
            if name == "id" and id_prefix is None:
                raise _bad(
                    f"attributes[{tag!r}]",
                    name,
                    "free of 'id' unless id_prefix is set",
                    "; unprefixed ids let user content shadow the page's own ids and "
                    "globals (DOM clobbering)",
                )
        checked[tag] = names
    return MappingProxyType(checked)


def _check_schemes(schemes: Iterable[str]) -> frozenset[str]:
    names = _names("url_schemes", schemes, _SCHEME)
    forbidden = sorted(names & FORBIDDEN_URL_SCHEMES)
    if forbidden:
        raise _bad(
            "url_schemes",
            forbidden,
            f"free of {', '.join(sorted(FORBIDDEN_URL_SCHEMES))}",
            "; these URLs run script or carry a document of the author's choice",
        )
    return names


def _check_link_rel(link_rel: object) -> str:
    if isinstance(link_rel, str):
        tokens = link_rel.split(" ")
        well_formed = all(_REL_TOKEN.fullmatch(token) for token in tokens)
        if well_formed and {"noopener", "noreferrer"} & set(tokens):
            return link_rel
    raise _bad(
        "link_rel",
        link_rel,
        "space-separated link types including 'noopener' or 'noreferrer'",
        "; without them a page opened from a link can navigate this one through window.opener",
    )


def _check_classes(
    allowed_classes: Mapping[str, Iterable[str]],
    tags: frozenset[str],
    attributes: Mapping[str, frozenset[str]],
) -> Mapping[str, frozenset[str]]:
    checked: dict[str, frozenset[str]] = {}
    for tag, classes in allowed_classes.items():
        if tag not in tags:
            raise _bad("allowed_classes", tag, "keyed by tags in tags")
        if "class" in attributes.get(tag, frozenset()) or "class" in attributes.get("*", ()):
            raise _bad(
                "allowed_classes",
                tag,
                "used without 'class' in attributes for the same tag",
                "; allowed_classes already keeps the listed classes, and nh3 refuses both",
            )
        if isinstance(classes, str):
            raise _bad(f"allowed_classes[{tag!r}]", classes, "a collection of class names")
        names = frozenset(classes)
        for name in names:
            if not isinstance(name, str) or not name or any(c.isspace() for c in name):
                raise _bad(f"allowed_classes[{tag!r}]", name, "class names without whitespace")
        checked[tag] = names
    return MappingProxyType(checked)


#: Text formatting, links, lists, headings, quotes, code and tables: what
#: comments and rendered Markdown need, without images or inline CSS.
#: Links keep ``http``, ``https`` and ``mailto`` URLs and relative ones.
DEFAULT_SANITIZER_POLICY: Final = SanitizerPolicy(
    tags={
        "a", "abbr", "b", "blockquote", "br", "caption", "cite", "code", "dd", "del",
        "details", "dfn", "div", "dl", "dt", "em", "figcaption", "figure", "h1", "h2",
        "h3", "h4", "h5", "h6", "hr", "i", "ins", "kbd", "li", "mark", "ol", "p", "pre",
        "q", "rp", "rt", "ruby", "s", "samp", "small", "span", "strong", "sub",
        "summary", "sup", "table", "tbody", "td", "tfoot", "th", "thead", "time", "tr",
        "u", "ul", "var", "wbr",
    },
    attributes={
        "*": {"dir", "lang", "title"},
        "a": {"href", "hreflang"},
        "del": {"datetime"},
        "ins": {"datetime"},
        "ol": {"reversed", "start", "type"},
        "td": {"colspan", "headers", "rowspan"},
        "th": {"abbr", "colspan", "headers", "rowspan", "scope"},
        "time": {"datetime"},
    },
)  # fmt: skip


def sanitize_html(fragment: str, policy: SanitizerPolicy = DEFAULT_SANITIZER_POLICY) -> str:
    """Return the untrusted HTML ``fragment`` with all that ``policy`` does not allow removed.

    The result is meant for the body of an HTML document. It is not safe
    inside an attribute value, a ``<script>`` or ``<style>`` element, or a
    template that is parsed again as something other than HTML; escape
    text with :func:`escape_text` there, or use the right encoder for the
    context. Raises :class:`TypeError` for anything but ``str``: decode
    bytes first, with the charset the request declared.
    """
    if not isinstance(fragment, str):
        raise TypeError(
            f"sanitize_html() takes the HTML as str, got {type(fragment).__name__}; "
            "decode bytes with the request's charset first"
        )
    return policy.clean(fragment)


def escape_text(text: str) -> str:
    """Return ``text`` with ``& < > " '`` replaced by character references.

    Use it for plain text placed in HTML element content or in a quoted
    attribute value: the browser shows the text and parses none of it as
    markup. Raises :class:`TypeError` for anything but ``str``.
    """
    if not isinstance(text, str):
        raise TypeError(f"escape_text() takes str, got {type(text).__name__}")
    return html.escape(text, quote=True)
