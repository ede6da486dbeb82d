"""XSS vectors by class, sanitised by sanitize_html and rendered in headless Chromium.

Every vector is sanitised with the default policy, and the output is
rendered as the body of its own document, an iframe of one probe page, in
Chromium driven through the DevTools protocol (tests/xss_harness.py). The
probe records every script V8 compiles in the page, every dialog call and
every console call, after firing every common event at every element,
clicking everything and parsing each body a second time through innerHTML.
No sanitised vector may run any script.

The control tests show that the probe can fail: every vector marked
``live`` runs script when rendered without sanitising, and so does output
from a deliberately weak nh3 policy. ``live`` records what Chromium
156.0.8078.114 (Debian 12) did with the raw vector. The other vectors do
not run in that Chromium. Some target other or older browsers
(``vbscript:``, CSS ``expression()``), and Chromium blocks others
(``javascript:`` in ``<base>`` or meta refresh). Some are no script URLs
once the invisible characters stay in (zero-width space, NBSP), and some
mutation shapes need a sanitizer's serialisation to mutate. They stay in
the corpus because the sanitizer must strip them too.

Cases render inside iframes, where navigating to a ``data:`` URL is
allowed, so ``data:`` links count as live here although Chromium blocks
them in a top-level page.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import NamedTuple

import pytest

from chromium import find_chromium
from jivs_security.web import sanitize_html
from xss_harness import CaseReport, Rendering, XssProbe, running_probe

pytestmark = pytest.mark.slow

APT_COMMAND = "apt-get install -y chromium"


class Vector(NamedTuple):
    """One XSS vector: its class, a short name, the HTML, and whether raw Chromium runs it."""

    kind: str
    name: str
    html: str
    live: bool

    @property
    def case(self) -> str:
        return f"{self.kind}/{self.name}"


CORPUS = [
    Vector("script-tags", "plain", "<script>alert(1)</script>", True),
    Vector("script-tags", "upper-case", "<SCRIPT>alert(1)</SCRIPT>", True),
    Vector("script-tags", "slash-attribute", "<script/x>alert(1)</script>", True),
    Vector("script-tags", "data-src", "<script src=data:text/javascript,alert(1)></script>", True),
    Vector("script-tags", "nested-angle", "<<script>alert(1);//<</script>", True),
    Vector("script-tags", "in-paragraph", "<p>text<script>alert(1)</script></p>", True),
    Vector("script-tags", "type-module", "<script type=module>alert(1)</script>", True),
    Vector(
        "script-tags",
        "srcdoc-entities",
        '<iframe srcdoc="&lt;script&gt;alert(1)&lt;/script&gt;"></iframe>',
        True,
    ),
    Vector("script-tags", "split-tag", "<scr<script>ipt>alert(1)</script>", False),
    Vector("script-tags", "unclosed", "<script>alert(1)<!--", False),
    Vector("event-handlers", "img-onerror", "<img src=x onerror=alert(1)>", True),
    Vector("event-handlers", "mixed-case", "<img src=x oNeRrOr=alert(1)>", True),
    Vector("event-handlers", "slash-separators", '<img/src="x"/onerror=alert(1)>', True),
    Vector(
        "event-handlers",
        "entity-body",
        '<img src=x onerror="&#97;&#108;&#101;&#114;&#116;(1)">',
        True,
    ),
    Vector("event-handlers", "body-onload", "<body onload=alert(1)>", True),
    Vector("event-handlers", "div-onmouseover", "<div onmouseover=alert(1)>hover</div>", True),
    Vector("event-handlers", "a-onclick", "<a onclick=alert(1)>click</a>", True),
    Vector("event-handlers", "autofocus-onfocus", "<input autofocus onfocus=alert(1)>", True),
    Vector(
        "event-handlers", "details-ontoggle", "<details open ontoggle=alert(1)>x</details>", True
    ),
    Vector(
        "event-handlers", "video-source-onerror", "<video><source onerror=alert(1)></video>", True
    ),
    Vector("event-handlers", "iframe-onload", "<iframe onload=alert(1)></iframe>", True),
    Vector("event-handlers", "allowed-tag-onclick", "<p onclick=alert(1)>para</p>", True),
    Vector("event-handlers", "newline-before-handler", "<img src=x\nonerror=alert(1)>", True),
    Vector("event-handlers", "marquee-onstart", "<marquee onstart=alert(1)>m</marquee>", False),
    Vector("event-handlers", "zero-width-name", "<img src=x on&#x200B;error=alert(1)>", False),
    Vector("javascript-urls", "plain", '<a href="javascript:alert(1)">x</a>', True),
    Vector("javascript-urls", "mixed-case", '<a href="JaVaScRiPt:alert(1)">x</a>', True),
    Vector("javascript-urls", "decimal-entity", '<a href="&#106;avascript:alert(1)">x</a>', True),
    Vector(
        "javascript-urls", "hex-entities", '<a href="&#x6A;avascript&#x3A;alert(1)">x</a>', True
    ),
    Vector(
        "javascript-urls",
        "entities-without-semicolons",
        '<a href="&#106&#97&#118&#97&#115&#99&#114&#105&#112&#116&#58alert(1)">x</a>',
        True,
    ),
    Vector("javascript-urls", "named-colon", '<a href="javascript&colon;alert(1)">x</a>', True),
    Vector("javascript-urls", "padded-entity", '<a href="&#0000106avascript:alert(1)">x</a>', True),
    Vector("javascript-urls", "tab-entity", '<a href="java&#x09;script:alert(1)">x</a>', True),
    Vector("javascript-urls", "named-tab", '<a href="java&Tab;script:alert(1)">x</a>', True),
    Vector("javascript-urls", "raw-tab", '<a href="java\tscript:alert(1)">x</a>', True),
    Vector("javascript-urls", "newline-entity", '<a href="java&#x0A;script:alert(1)">x</a>', True),
    Vector(
        "javascript-urls", "named-newline", '<a href="java&NewLine;script:alert(1)">x</a>', True
    ),
    Vector("javascript-urls", "carriage-return", '<a href="java&#x0D;script:alert(1)">x</a>', True),
    Vector("javascript-urls", "leading-space", '<a href=" javascript:alert(1)">x</a>', True),
    Vector(
        "javascript-urls", "leading-form-feed", '<a href="&#x0C;javascript:alert(1)">x</a>', True
    ),
    Vector("javascript-urls", "leading-control", '<a href="&#x01;javascript:alert(1)">x</a>', True),
    Vector("javascript-urls", "unquoted", "<a href=javascript:alert(1)>x</a>", True),
    Vector("javascript-urls", "iframe-src", '<iframe src="javascript:alert(1)"></iframe>', True),
    Vector(
        "javascript-urls",
        "form-action",
        '<form action="javascript:alert(1)"><input type=submit></form>',
        True,
    ),
    Vector(
        "javascript-urls",
        "button-formaction",
        '<form><button formaction="javascript:alert(1)">go</button></form>',
        True,
    ),
    Vector(
        "javascript-urls",
        "area-href",
        '<map name=m><area shape=rect coords=0,0,9,9 href="javascript:alert(1)"></map>',
        True,
    ),
    Vector("javascript-urls", "leading-nul", '<a href="&#x00;javascript:alert(1)">x</a>', False),
    Vector(
        "javascript-urls", "zero-width-space", '<a href="jav&#x200B;ascript:alert(1)">x</a>', False
    ),
    Vector(
        "javascript-urls",
        "leading-zero-width-space",
        '<a href="&#x200B;javascript:alert(1)">x</a>',
        False,
    ),
    Vector(
        "javascript-urls",
        "zero-width-joiner",
        '<a href="javascript&#x200D;:alert(1)">x</a>',
        False,
    ),
    Vector(
        "javascript-urls",
        "leading-zero-width-nbsp",
        '<a href="&#xFEFF;javascript:alert(1)">x</a>',
        False,
    ),
    Vector("javascript-urls", "soft-hyphen", '<a href="java&shy;script:alert(1)">x</a>', False),
    Vector("javascript-urls", "leading-nbsp", '<a href="&nbsp;javascript:alert(1)">x</a>', False),
    Vector(
        "javascript-urls",
        "target-blank",
        '<a href="javascript:alert(1)" target=_blank>x</a>',
        False,
    ),
    Vector(
        "javascript-urls",
        "base-href",
        '<base href="javascript:alert(1)//"><a href="x">x</a>',
        False,
    ),
    Vector("javascript-urls", "object-data", '<object data="javascript:alert(1)"></object>', False),
    Vector("javascript-urls", "embed-src", '<embed src="javascript:alert(1)">', False),
    Vector("javascript-urls", "vbscript", '<a href="vbscript:msgbox(1)">x</a>', False),
    Vector(
        "javascript-urls",
        "meta-refresh",
        '<meta http-equiv="refresh" content="0;url=javascript:alert(1)">',
        False,
    ),
    Vector(
        "data-urls",
        "iframe-html",
        '<iframe src="data:text/html,<script>alert(1)</script>"></iframe>',
        True,
    ),
    Vector(
        "data-urls",
        "iframe-base64",
        '<iframe src="data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg=="></iframe>',
        True,
    ),
    Vector(
        "data-urls",
        "iframe-entity-scheme",
        '<iframe src="&#x64;ata:text/html,<script>alert(1)</script>"></iframe>',
        True,
    ),
    Vector(
        "data-urls",
        "iframe-tab-scheme",
        '<iframe src="da&#x09;ta:text/html,<script>alert(1)</script>"></iframe>',
        True,
    ),
    Vector(
        "data-urls",
        "iframe-leading-space",
        '<iframe src=" data:text/html,<script>alert(1)</script>"></iframe>',
        True,
    ),
    Vector(
        "data-urls", "link-html", '<a href="data:text/html,<script>alert(1)</script>">x</a>', True
    ),
    Vector(
        "data-urls",
        "link-mixed-case",
        '<a href="DaTa:text/html,<script>alert(1)</script>">x</a>',
        True,
    ),
    Vector(
        "data-urls",
        "object-html",
        '<object data="data:text/html,<script>alert(1)</script>"></object>',
        True,
    ),
    Vector(
        "data-urls",
        "embed-svg",
        "<embed src=\"data:image/svg+xml,<svg xmlns='http://www.w3.org/2000/svg' "
        "onload='alert(1)'/>\">",
        True,
    ),
    Vector("data-urls", "script-src", '<script src="data:,alert(1)"></script>', True),
    Vector(
        "data-urls",
        "img-svg",
        "<img src=\"data:image/svg+xml,<svg xmlns='http://www.w3.org/2000/svg' "
        "onload='alert(1)'/>\">",
        False,
    ),
    Vector(
        "data-urls",
        "zero-width-scheme",
        '<a href="da&#x200B;ta:text/html,<script>alert(1)</script>">x</a>',
        False,
    ),
    Vector("svg", "svg-onload", "<svg onload=alert(1)>", True),
    Vector("svg", "svg-script", "<svg><script>alert(1)</script></svg>", True),
    Vector("svg", "svg-script-href", '<svg><script href="data:,alert(1)"/></svg>', True),
    Vector(
        "svg",
        "a-javascript",
        '<svg><a href="javascript:alert(1)"><text x=20 y=20>x</text></a></svg>',
        True,
    ),
    Vector(
        "svg",
        "a-xlink-javascript",
        '<svg><a xlink:href="javascript:alert(1)"><text x=20 y=20>x</text></a></svg>',
        True,
    ),
    Vector(
        "svg",
        "a-entity-javascript",
        '<svg><a href="&#x6A;avascript:alert(1)"><text x=20 y=20>x</text></a></svg>',
        True,
    ),
    Vector(
        "svg",
        "a-zero-width-javascript",
        '<svg><a href="java&#x200B;script:alert(1)"><text x=20 y=20>x</text></a></svg>',
        False,
    ),
    Vector(
        "svg", "animate-onbegin", "<svg><animate onbegin=alert(1) attributeName=x dur=1s>", True
    ),
    Vector(
        "svg",
        "animate-href",
        '<svg><a><animate attributeName=href values="javascript:alert(1)"/>'
        "<text x=20 y=20>x</text></a></svg>",
        True,
    ),
    Vector(
        "svg",
        "set-href",
        '<svg><a><set attributeName=href to="javascript:alert(1)"/>'
        "<text x=20 y=20>x</text></a></svg>",
        True,
    ),
    Vector(
        "svg",
        "foreignobject-img",
        "<svg><foreignObject><img src=x onerror=alert(1)></foreignObject></svg>",
        True,
    ),
    Vector("svg", "image-onerror", "<svg><image href=x onerror=alert(1)></svg>", True),
    Vector("svg", "style-breakout", "<svg><style><img src=x onerror=alert(1)></style></svg>", True),
    Vector(
        "svg",
        "use-data",
        "<svg><use href=\"data:image/svg+xml,<svg id='x' xmlns='http://www.w3.org/2000/svg'>"
        "<image href='x' onerror='alert(1)'/></svg>#x\"/></svg>",
        False,
    ),
    Vector("mathml", "mtext-img", "<math><mtext><img src=x onerror=alert(1)></mtext></math>", True),
    Vector(
        "mathml",
        "annotation-xml",
        '<math><annotation-xml encoding="text/html"><img src=x onerror=alert(1)>'
        "</annotation-xml></math>",
        True,
    ),
    Vector(
        "mathml", "style-breakout", "<math><style><img src=x onerror=alert(1)></style></math>", True
    ),
    Vector(
        "mathml", "mglyph-onerror", "<math><mglyph src=x onerror=alert(1)></mglyph></math>", True
    ),
    Vector(
        "mathml", "mi-xlink-href", '<math><mi xlink:href="javascript:alert(1)">x</mi></math>', False
    ),
    Vector("mathml", "math-href", '<math href="javascript:alert(1)"><mi>x</mi></math>', False),
    Vector("mathml", "a-href", '<math><a href="javascript:alert(1)">x</a></math>', False),
    Vector(
        "mathml",
        "maction",
        '<math><maction actiontype="statusline" xlink:href="javascript:alert(1)">x</maction>'
        "</math>",
        False,
    ),
    Vector(
        "mutation-xss",
        "noscript-title",
        '<noscript><p title="</noscript><img src=x onerror=alert(1)>"></noscript>',
        True,
    ),
    Vector(
        "mutation-xss",
        "svg-p-style",
        '<svg></p><style><a id="</style><img src=1 onerror=alert(1)>">',
        True,
    ),
    Vector(
        "mutation-xss",
        "form-math-mglyph",
        "<form><math><mtext></form><form><mglyph><style></math><img src onerror=alert(1)>",
        True,
    ),
    Vector(
        "mutation-xss", "xmp-title", '<xmp><p title="</xmp><img src=x onerror=alert(1)>">', True
    ),
    Vector(
        "mutation-xss",
        "noembed-title",
        '<noembed><p title="</noembed><img src=x onerror=alert(1)>">',
        True,
    ),
    Vector(
        "mutation-xss",
        "noframes-title",
        '<noframes><p title="</noframes><img src=x onerror=alert(1)>">',
        True,
    ),
    Vector(
        "mutation-xss",
        "textarea-title",
        '<textarea><p title="</textarea><img src=x onerror=alert(1)>">',
        True,
    ),
    Vector(
        "mutation-xss",
        "title-title",
        '<title><p title="</title><img src=x onerror=alert(1)>">',
        True,
    ),
    Vector(
        "mutation-xss",
        "iframe-content",
        '<iframe><p title="</iframe><img src=x onerror=alert(1)>"></iframe>',
        True,
    ),
    Vector("mutation-xss", "empty-comment", "<!--><img src=x onerror=alert(1)>-->", True),
    Vector("mutation-xss", "cdata-in-html", "<![CDATA[><img src=x onerror=alert(1)>]]>", True),
    Vector(
        "mutation-xss",
        "comment-in-attribute",
        '<p title="<!--"><img src=x onerror=alert(1)>-->"',
        True,
    ),
    Vector("mutation-xss", "select-img", "<select><img src=x onerror=alert(1)></select>", True),
    Vector(
        "mutation-xss",
        "table-form",
        "<table><form><img src=x onerror=alert(1)></form></table>",
        True,
    ),
    Vector(
        "mutation-xss",
        "math-mglyph-style-comment",
        "<math><mtext><table><mglyph><style><!--</style>"
        '<img title="--&gt;&lt;/mglyph&gt;&lt;img&Tab;src=1&Tab;onerror=alert(1)&gt;">',
        False,
    ),
    Vector(
        "mutation-xss", "template-img", "<template><img src=x onerror=alert(1)></template>", False
    ),
    Vector(
        "mutation-xss",
        "listing-entities",
        "<listing>&lt;img src=1 onerror=alert(1)&gt;</listing>",
        False,
    ),
    Vector(
        "mutation-xss",
        "style-in-table",
        "<table><style><img src=x onerror=alert(1)></style></table>",
        False,
    ),
    Vector("mutation-xss", "plaintext", "<plaintext><img src=x onerror=alert(1)>", False),
    Vector(
        "style-based",
        "keyframes-animationstart",
        '<style>@keyframes x{}</style><div style="animation-name:x;animation-duration:1s" '
        "onanimationstart=alert(1)>a</div>",
        True,
    ),
    Vector("style-based", "style-onload", "<style onload=alert(1)></style>", True),
    Vector(
        "style-based",
        "link-stylesheet-onload",
        '<link rel=stylesheet href="data:text/css,p{}" onload=alert(1)>',
        True,
    ),
    Vector(
        "style-based",
        "background-javascript",
        '<div style="background:url(javascript:alert(1))">x</div>',
        False,
    ),
    Vector("style-based", "expression", '<div style="width:expression(alert(1))">x</div>', False),
    Vector(
        "style-based",
        "escaped-expression",
        '<div style="x:\\65xpression(alert(1))">x</div>',
        False,
    ),
    Vector(
        "style-based", "import-javascript", '<style>@import "javascript:alert(1)";</style>', False
    ),
    Vector(
        "style-based",
        "overlay",
        '<p style="position:fixed;top:0;left:0;width:100%;height:100%">overlay</p>',
        False,
    ),
]

CLASSES = (
    "script-tags",
    "event-handlers",
    "javascript-urls",
    "data-urls",
    "svg",
    "mathml",
    "mutation-xss",
    "style-based",
)
LIVE = [vector for vector in CORPUS if vector.live]


def describe(report: CaseReport) -> str:
    return "; ".join(str(execution) for execution in report.executions)


@pytest.fixture(scope="module")
def probe() -> Iterator[XssProbe]:
    """A page server, headless Chromium and a probe, shared by this module."""
    pytest.importorskip(
        "websocket",
        reason="the browser tests drive Chromium through websocket-client: "
        "pip install websocket-client",
    )
    binary = find_chromium()
    if binary is None and os.environ.get("CI"):
        # CI installs Chromium, so a missing browser there is a broken set-up,
        # not a reason to pass without running the XSS corpus.
        pytest.fail(f"Chromium is missing on CI; install it with: {APT_COMMAND}")
    if binary is None:
        pytest.skip(
            f"Chromium is not installed; install it with: {APT_COMMAND} "
            "(or set JIVS_TEST_CHROMIUM to a Chromium binary)"
        )
    with running_probe(binary) as running:
        yield running


@pytest.fixture(scope="module")
def sanitized(probe: XssProbe) -> Rendering:
    """Reports for every vector, sanitised with the default policy."""
    return probe.render({vector.case: sanitize_html(vector.html) for vector in CORPUS}, audit=True)


@pytest.fixture(scope="module")
def raw(probe: XssProbe) -> Rendering:
    """Reports for every live vector, rendered without sanitising."""
    return probe.render({vector.case: vector.html for vector in LIVE}, audit=False)


@pytest.mark.parametrize("vector", CORPUS, ids=[vector.case for vector in CORPUS])
def test_sanitized_vector_is_inert(vector: Vector, sanitized: Rendering) -> None:
    """A sanitised vector runs no script, keeps nothing dangerous and requests nothing remote."""
    report = sanitized.cases[vector.case]
    output = sanitize_html(vector.html)

    assert not report.executions, f"{output!r} ran script: {describe(report)}"
    assert not report.dom_problems, f"{output!r} kept {report.dom_problems}"
    assert not report.blocked_requests, f"{output!r} requested {report.blocked_requests}"


def test_sanitized_render_has_no_stray_script(sanitized: Rendering) -> None:
    """No script ran anywhere in the sanitised render, in popups or workers either."""
    assert not sanitized.unattributed.executions, describe(sanitized.unattributed)


@pytest.mark.parametrize("vector", LIVE, ids=[vector.case for vector in LIVE])
def test_raw_vector_runs_script(vector: Vector, raw: Rendering) -> None:
    """The probe records script when the live vector is rendered unsanitised."""
    report = raw.cases[vector.case]

    assert report.executions, f"the probe saw no script from raw {vector.html!r}"


def test_weak_policy_output_runs_script(probe: XssProbe) -> None:
    """Output of an nh3 policy that keeps onerror is caught by the probe."""
    import nh3

    weak = nh3.clean(
        "<img src=x onerror=alert(1)>", tags={"img"}, attributes={"img": {"src", "onerror"}}
    )

    rendering = probe.render({"weak": weak}, audit=True)

    assert rendering.cases["weak"].executions
    assert rendering.cases["weak"].dom_problems == ["attribute onerror on <img>"]


def test_audit_flags_raw_markup(probe: XssProbe) -> None:
    """The DOM audit reports a style attribute and a javascript: link left in the output."""
    html = '<p style="position:fixed">x</p><a href="javascript:void(0)">y</a>'

    rendering = probe.render({"raw": html}, audit=True)

    assert "attribute style on <p>" in rendering.cases["raw"].dom_problems
    assert "href with protocol javascript: on <a>" in rendering.cases["raw"].dom_problems


@pytest.mark.parametrize("kind", CLASSES)
def test_corpus_class_has_live_vector(kind: str) -> None:
    """Every vector class has a vector that runs raw, so its control test can fail."""
    live = [vector for vector in LIVE if vector.kind == kind]

    assert live


def test_corpus_names_unique() -> None:
    """Case names are unique, so each report belongs to one vector."""
    cases = [vector.case for vector in CORPUS]

    assert len(cases) == len(set(cases))


def test_corpus_addresses_only_namespaces() -> None:
    """No vector names a network host; the only absolute http URL is the SVG namespace."""
    for vector in CORPUS:
        remainder = vector.html.replace("http://www.w3.org/2000/svg", "")

        assert "http:" not in remainder.lower(), vector.case
        assert "https:" not in remainder.lower(), vector.case
