"""An XSS probe: renders HTML fragments in headless Chromium and records any script they run.

:class:`XssProbe` serves each fragment as the body of its own document from
a :class:`~chromium.PageServer` on 127.0.0.1, shows all of them as iframes
of one top page, and drives Chromium (:mod:`chromium`) through the DevTools
protocol. It records, per fragment:

- every script that V8 compiles in the page (``Debugger.scriptParsed`` and
  ``Debugger.scriptFailedToParse``): inline scripts, event handler
  attributes when they first run, ``javascript:`` URLs, ``eval``, and
  scripts in nested frames, popups and workers. Only the probe's own
  scripts, tagged with a random ``sourceURL``, are left out;
- every call of ``alert``, ``confirm``, ``prompt`` or ``print``, which a
  guard script replaces with calls to a DevTools binding, and every real
  dialog that opens anyway;
- every console API call.

After the load event the probe makes each document serialise and parse
its body again, the step that turns mutation XSS live. Then it fires every
common event type at every element, clicks every element, submits forms
whose action leaves http(s), and focuses everything focusable, so event
handlers and ``javascript:`` links run too. The guard script, installed in
every new document before its own scripts, also cancels clicks and
submissions that would navigate to ``http:`` or ``https:`` URLs. Fetch
interception fails every request that does not go to the page server, so
nothing leaves loopback.

Cases render inside iframes. There, navigating to a ``data:`` URL is
allowed, while Chromium blocks it in a top-level page, so the probe sees
more script run than a top-level page would.
"""

from __future__ import annotations

import contextlib
import json
import re
import secrets
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from chromium import Chromium, DevTools, PageServer

__all__ = ["CaseReport", "Execution", "Rendering", "XssProbe", "running_probe"]

# Seconds.
_LOAD_TIMEOUT = 30.0
# Navigations tried within _LOAD_TIMEOUT before a render fails (see _navigate).
_NAVIGATION_ATTEMPTS = 3
# After the probe's actions, the page is watched until nothing happened for
# this long (event handlers, javascript: navigations, animations, nested
# frames), but no longer than the maximum.
_QUIET_PERIOD = 0.5
_MAX_SETTLE = 5.0

# Event types fired at every element and at each window. Inline handlers
# run for any event of their type, so plain Event objects are enough.
_ELEMENT_EVENTS = (  # noqa: SIM905  (a word list reads better than quoted items)
    "abort afterprint animationcancel animationend animationiteration animationstart "
    "auxclick beforeinput beforematch beforetoggle begin blur cancel canplay "
    "canplaythrough change click close contentvisibilityautostatechange contextmenu copy "
    "cuechange cut dblclick drag dragend dragenter dragleave dragover dragstart drop "
    "durationchange emptied end ended error focus focusin focusout formdata fullscreenchange "
    "input invalid keydown keypress keyup load loadeddata loadedmetadata loadstart "
    "mousedown mouseenter mouseleave mousemove mouseout mouseover mouseup mousewheel paste "
    "pause play playing pointercancel pointerdown pointerenter pointerleave pointermove "
    "pointerout pointerover pointerrawupdate pointerup progress ratechange repeat reset "
    "resize scroll scrollend search securitypolicyviolation seeked seeking select "
    "selectionchange selectstart slotchange stalled start submit suspend timeupdate toggle "
    "touchcancel touchend touchmove touchstart transitioncancel transitionend transitionrun "
    "transitionstart volumechange waiting webkitanimationend webkitanimationiteration "
    "webkitanimationstart webkittransitionend wheel"
).split()
_WINDOW_EVENTS = (  # noqa: SIM905  (a word list reads better than quoted items)
    "afterprint beforeprint beforeunload blur error focus hashchange languagechange load "
    "message messageerror offline online pagehide pageshow popstate rejectionhandled resize "
    "scroll storage unhandledrejection unload"
).split()

# Installed in every new document before its own scripts run. It replaces
# the dialog functions with calls to a DevTools binding, because a real
# alert in a focus handler reopens itself forever: closing a dialog focuses
# the page again. Page script could restore the originals, but every script
# is still seen by the debugger.
_GUARD_SCRIPT = """
(() => {
  const report = globalThis[BINDING];
  for (const name of ["alert", "confirm", "prompt", "print"]) {
    const replacement = function (...args) {
      try { report(JSON.stringify([name, args.map(String)])); } catch (error) {}
      return name === "confirm" ? false : name === "prompt" ? null : undefined;
    };
    try { globalThis[name] = replacement; } catch (error) {}
  }
  const navigatesAway = (raw) => {
    if (raw === null || raw === undefined) return false;
    try {
      const protocol = new URL(String(raw), document.baseURI).protocol;
      return protocol === "http:" || protocol === "https:";
    } catch (error) {
      return false;
    }
  };
  const XLINK = "http://www.w3.org/1999/xlink";
  addEventListener("click", (event) => {
    for (const node of event.composedPath()) {
      if (!(node instanceof Element)) continue;
      const raw = node.getAttribute("href") ?? node.getAttributeNS(XLINK, "href");
      if (raw !== null && navigatesAway(raw)) { event.preventDefault(); return; }
      const action = node.getAttribute("formaction");
      if (action !== null && navigatesAway(action)) { event.preventDefault(); return; }
    }
  }, true);
  addEventListener("submit", (event) => {
    const action = event.submitter?.getAttribute("formaction") ??
                   event.target.getAttribute("action") ?? document.baseURI;
    if (navigatesAway(action)) event.preventDefault();
  }, true);
})();
"""

# Runs in the top page: for every case document (and every same-origin
# document nested in one), parse the body again, then fire events, click,
# submit and focus.
_ACTIVATE_SCRIPT = """
(() => {
  const ELEMENT_EVENTS = %(element_events)s;
  const WINDOW_EVENTS = %(window_events)s;
  const submit = HTMLFormElement.prototype.submit;
  const documents = [];
  const collect = (doc) => {
    documents.push(doc);
    for (const frame of doc.querySelectorAll("iframe, frame, object, embed")) {
      let inner = null;
      try { inner = frame.contentDocument; } catch (error) {}
      if (inner) collect(inner);
    }
  };
  for (const frame of document.querySelectorAll("iframe")) {
    let inner = null;
    try { inner = frame.contentDocument; } catch (error) {}
    if (inner) collect(inner);
  }
  for (const doc of documents) {
    if (!doc.body) continue;
    const copy = doc.createElement("div");
    copy.innerHTML = doc.body.innerHTML;
    doc.body.appendChild(copy);
  }
  for (const doc of documents) {
    const view = doc.defaultView;
    for (const type of WINDOW_EVENTS) {
      try { view.dispatchEvent(new Event(type)); } catch (error) {}
    }
    for (const element of doc.querySelectorAll("*")) {
      for (const type of ELEMENT_EVENTS) {
        try { element.dispatchEvent(new Event(type)); } catch (error) {}
      }
      try { element.focus?.(); } catch (error) {}
      // SVG and MathML elements have no click(); a trusted-looking mouse
      // event runs their link activation instead.
      try {
        if (element.click) element.click();
        else element.dispatchEvent(new MouseEvent("click", {bubbles: true, cancelable: true}));
      } catch (error) {}
      // form.submit() fires no submit event, so the guard cannot stop it;
      // only forms whose action leaves http(s) are submitted that way.
      if (element.localName === "form") {
        try {
          const action = new URL(element.getAttribute("action") ?? "", doc.baseURI);
          if (action.protocol !== "http:" && action.protocol !== "https:") submit.call(element);
        } catch (error) {}
      }
    }
  }
  return documents.length;
})()
"""

# Runs in the top page after rendering sanitised output: lists what no
# sanitised fragment may contain, per case document.
_AUDIT_SCRIPT = """
(() => {
  const FORBIDDEN = new Set(%(forbidden_tags)s);
  const URL_ATTRIBUTES = new Set(%(url_attributes)s);
  const SAFE_PROTOCOLS = new Set(%(safe_protocols)s);
  const report = {};
  for (const frame of document.querySelectorAll("iframe[data-case]")) {
    const problems = [];
    const doc = frame.contentDocument;
    if (!doc || !doc.body) {
      problems.push("the case document is not readable");
    } else {
      for (const element of doc.body.querySelectorAll("*")) {
        const name = element.localName;
        if (FORBIDDEN.has(name) || element.namespaceURI !== "http://www.w3.org/1999/xhtml") {
          problems.push("element <" + name + "> in " + element.namespaceURI);
        }
        for (const attribute of element.attributes) {
          const attributeName = attribute.name.toLowerCase();
          if (attributeName.startsWith("on") || attributeName === "style" ||
              attributeName === "srcdoc") {
            problems.push("attribute " + attributeName + " on <" + name + ">");
          }
          if (URL_ATTRIBUTES.has(attributeName)) {
            let protocol = "unparsable:";
            try { protocol = new URL(attribute.value, doc.baseURI).protocol; } catch (error) {}
            if (!SAFE_PROTOCOLS.has(protocol)) {
              problems.push(attributeName + " with protocol " + protocol + " on <" + name + ">");
            }
          }
        }
      }
    }
    report[frame.dataset.case] = problems;
  }
  return report;
})()
"""

_FORBIDDEN_IN_OUTPUT = (  # noqa: SIM905  (a word list reads better than quoted items)
    "script style iframe frame frameset object embed applet base link meta form input button "
    "textarea select option template noscript noembed noframes xmp plaintext svg math "
    "portal fencedframe title"
).split()
_URL_ATTRIBUTES = (  # noqa: SIM905  (a word list reads better than quoted items)
    "href xlink:href src action formaction data poster background cite longdesc ping "
    "srcset usemap codebase manifest"
).split()
_SAFE_PROTOCOLS = ("http:", "https:", "mailto:")

# Target types whose scripts are watched: pages and popups, out-of-process
# frames and every kind of worker.
_WATCHED_TARGETS = frozenset({"page", "iframe", "worker", "shared_worker", "service_worker"})
_AUTO_ATTACH = {
    "autoAttach": True,
    "waitForDebuggerOnStart": True,
    "flatten": True,
    "filter": [{"type": kind} for kind in sorted(_WATCHED_TARGETS)],
}


@dataclass(frozen=True)
class Execution:
    """One sign of script in a page: a compiled script, a dialog or a console call."""

    kind: str
    location: str
    detail: str

    def __str__(self) -> str:
        return f"{self.kind} at {self.location}: {self.detail}"


@dataclass
class CaseReport:
    """What one fragment did when rendered."""

    executions: list[Execution] = field(default_factory=list)
    dom_problems: list[str] = field(default_factory=list)
    blocked_requests: list[str] = field(default_factory=list)


@dataclass
class Rendering:
    """The reports of one :meth:`XssProbe.render`, by case name.

    ``unattributed`` collects signs of script that belong to no single case,
    such as script in a popup without an opener or in a worker.
    """

    cases: dict[str, CaseReport]
    unattributed: CaseReport


class XssProbe:
    """Renders HTML fragments in Chromium and reports, per fragment, any script that ran."""

    def __init__(self, server: PageServer, devtools: DevTools) -> None:
        self._server = server
        self._devtools = devtools
        # Scripts whose sourceURL starts with this tag are the probe's own; a
        # page cannot guess the random part to hide among them.
        self._tag = f"jivs-probe-{secrets.token_hex(8)}"
        self._blank_url = server.publish("/blank", "<!doctype html><title>blank</title>")
        self._frame_parent: dict[str, str | None] = {}
        self._frame_url: dict[str, str] = {}
        # The case URL a frame was first created for; kept when a payload
        # navigates the frame elsewhere (to a data: URL, say).
        self._frame_case: dict[str, str] = {}
        # The frame that opened each popup's session.
        self._session_opener: dict[str, str] = {}
        self._context_frame: dict[tuple[str | None, int], str] = {}
        self._page_sessions: dict[str, str] = {}
        # The name of the function that the guard's dialog replacements call.
        self._binding = f"jivsProbe{secrets.token_hex(8)}"
        # The load event counts only after the main frame committed the URL
        # being rendered, so a late event from the previous page is ignored.
        self._expected_url: str | None = None
        self._committed = False
        self._loaded = False
        self._main_session: str | None = None
        self._main_target: str | None = None
        self._executions: list[tuple[Execution, str | None]] = []
        self._blocked: list[tuple[str, str | None]] = []
        self._render_count = 0

        devtools.on("Target.attachedToTarget", self._attached)
        devtools.on("Page.frameAttached", self._frame_attached)
        devtools.on("Page.frameNavigated", self._frame_navigated)
        devtools.on("Page.loadEventFired", self._load_fired)
        devtools.on("Page.javascriptDialogOpening", self._dialog)
        devtools.on("Runtime.executionContextCreated", self._context_created)
        devtools.on("Runtime.consoleAPICalled", self._console)
        devtools.on("Runtime.bindingCalled", self._binding_called)
        devtools.on(
            "Debugger.scriptParsed",
            lambda params, session: self._script(params, session, "script compiled"),
        )
        devtools.on(
            "Debugger.scriptFailedToParse",
            lambda params, session: self._script(params, session, "script failed to parse"),
        )
        devtools.on("Fetch.requestPaused", self._request_paused)

        # Every new target (the probe's page, popups, out-of-process frames
        # and workers) is attached and held until it is instrumented.
        devtools.send("Target.setAutoAttach", _AUTO_ATTACH)
        target = devtools.send("Target.createTarget", {"url": self._blank_url})
        self._main_target = target["targetId"]
        devtools.pump(lambda: self._main_target in self._page_sessions, _LOAD_TIMEOUT)
        self._main_session = self._page_sessions.get(self._main_target)
        if self._main_session is None:
            raise RuntimeError("the probe page was created but DevTools never attached to it")
        # Loading the blank page again, and waiting for it, leaves the page
        # idle and instrumented before the first render navigates it.
        if not self._navigate(self._blank_url):
            raise RuntimeError(f"the blank probe page did not load in {_LOAD_TIMEOUT} s")

    def render(self, cases: Mapping[str, str], *, audit: bool) -> Rendering:
        """Render each fragment in its own iframe and return a report per case name.

        With ``audit`` the reports also list elements, attributes and URLs
        that no sanitised fragment may contain.
        """
        self._render_count += 1
        names = list(cases)
        frames = []
        for index, name in enumerate(names):
            path = f"/r{self._render_count}/case/{index}"
            document = (
                "<!doctype html><html><head><meta charset=utf-8><title>case</title></head>"
                f"<body>{cases[name]}</body></html>"
            )
            self._server.publish(path, document)
            frames.append(f'<iframe data-case="{index}" src="{path}"></iframe>')
        top_path = f"/r{self._render_count}/top"
        top_url = self._server.publish(
            top_path, "<!doctype html><title>probe</title><body>" + "".join(frames) + "</body>"
        )

        if not self._navigate(top_url):
            raise RuntimeError(f"the probe page did not finish loading in {_LOAD_TIMEOUT} s")

        audit_report: dict[str, list[str]] = {}
        if audit:
            audit_report = self._evaluate(
                _AUDIT_SCRIPT
                % {
                    "forbidden_tags": json.dumps(_FORBIDDEN_IN_OUTPUT),
                    "url_attributes": json.dumps(_URL_ATTRIBUTES),
                    "safe_protocols": json.dumps(_SAFE_PROTOCOLS),
                },
                "audit",
            )
        self._evaluate(
            _ACTIVATE_SCRIPT
            % {
                "element_events": json.dumps(_ELEMENT_EVENTS),
                "window_events": json.dumps(_WINDOW_EVENTS),
            },
            "activate",
        )
        self._settle()

        prefix = f"{self._server.origin}/r{self._render_count}/case/"
        reports = {name: CaseReport() for name in names}
        unattributed = CaseReport()
        for execution, frame_url in self._executions:
            report = self._report_for(frame_url, prefix, names, reports, unattributed)
            report.executions.append(execution)
        for url, frame_url in self._blocked:
            report = self._report_for(frame_url, prefix, names, reports, unattributed)
            report.blocked_requests.append(url)
        for case_index, problems in audit_report.items():
            reports[names[int(case_index)]].dom_problems.extend(problems)
        return Rendering(reports, unattributed)

    def close(self) -> None:
        if self._main_target is not None:
            with contextlib.suppress(RuntimeError, OSError, *self._devtools.connection_errors):
                self._devtools.send("Target.closeTarget", {"targetId": self._main_target})

    # Instrumentation.

    def _attached(self, params: dict[str, Any], parent_session: str | None) -> None:
        session = params["sessionId"]
        info = params["targetInfo"]
        post = self._devtools.post
        if info["type"] not in _WATCHED_TARGETS:
            post("Runtime.runIfWaitingForDebugger", session=session)
            return
        post("Runtime.addBinding", {"name": self._binding}, session=session)
        if info["type"] in {"page", "iframe"}:
            post("Page.enable", session=session)
            guard = _GUARD_SCRIPT.replace("BINDING", json.dumps(self._binding))
            post(
                "Page.addScriptToEvaluateOnNewDocument",
                {"source": f"{guard}\n//# sourceURL={self._tag}/guard.js"},
                session=session,
            )
            post("Fetch.enable", {"patterns": [{"urlPattern": "*"}]}, session=session)
        post("Runtime.enable", session=session)
        post("Debugger.enable", session=session)
        post("Debugger.setSkipAllPauses", {"skip": True}, session=session)
        post("Target.setAutoAttach", _AUTO_ATTACH, session=session)
        post("Runtime.runIfWaitingForDebugger", session=session)
        if info["type"] == "page" and parent_session is None:
            self._page_sessions[info["targetId"]] = session
            if info.get("openerFrameId"):
                self._session_opener[session] = info["openerFrameId"]

    def _navigate(self, url: str) -> bool:
        """Load ``url`` in the probe's page; return whether it loaded within the timeout.

        What an earlier load recorded is cleared before each attempt, so the
        reports describe one complete load alone.
        """
        # NOTE: Chromium 156 sometimes never commits a navigation issued soon
        # after the page was created: Page.navigate returns a loader id, but
        # no frameNavigated or loadEventFired follows. It happened in about
        # one run of this module in ten, and why is not known. A new
        # Page.navigate has always loaded, so the timeout is split between
        # a few attempts.
        for _ in range(_NAVIGATION_ATTEMPTS):
            self._executions.clear()
            self._blocked.clear()
            self._expected_url = url
            self._committed = False
            self._loaded = False
            self._devtools.send("Page.navigate", {"url": url}, session=self._main_session)
            if self._devtools.pump(lambda: self._loaded, _LOAD_TIMEOUT / _NAVIGATION_ATTEMPTS):
                return True
        return False

    def _frame_attached(self, params: dict[str, Any], session: str | None) -> None:
        self._frame_parent[params["frameId"]] = params.get("parentFrameId")

    def _frame_navigated(self, params: dict[str, Any], session: str | None) -> None:
        frame = params["frame"]
        url = frame.get("url", "")
        self._frame_url[frame["id"]] = url
        self._frame_parent.setdefault(frame["id"], frame.get("parentId"))
        if re.search(r"/case/\d+$", url):
            self._frame_case.setdefault(frame["id"], url)
        if (
            session == self._main_session
            and frame.get("parentId") is None
            and frame.get("url") == self._expected_url
        ):
            self._committed = True

    def _load_fired(self, params: dict[str, Any], session: str | None) -> None:
        if session == self._main_session and self._committed:
            self._loaded = True

    def _context_created(self, params: dict[str, Any], session: str | None) -> None:
        context = params["context"]
        frame_id = context.get("auxData", {}).get("frameId")
        if frame_id:
            self._context_frame[(session, context["id"])] = frame_id

    def _request_paused(self, params: dict[str, Any], session: str | None) -> None:
        url = params["request"]["url"]
        if url.startswith(self._server.origin + "/"):
            self._devtools.post(
                "Fetch.continueRequest", {"requestId": params["requestId"]}, session=session
            )
            return
        self._blocked.append((url, self._frame_url.get(params.get("frameId", ""))))
        self._devtools.post(
            "Fetch.failRequest",
            {"requestId": params["requestId"], "errorReason": "BlockedByClient"},
            session=session,
        )

    # Signs of script.

    def _script(self, params: dict[str, Any], session: str | None, kind: str) -> None:
        url = params.get("url", "")
        if url.startswith(self._tag):
            return
        frame_url = self._frame_of_context(session, params.get("executionContextId"))
        execution = Execution(
            kind,
            url or frame_url or "unknown frame",
            f"script {params.get('scriptId')} at line {params.get('startLine')}, column "
            f"{params.get('startColumn')}, {params.get('length', '?')} characters",
        )
        self._executions.append((execution, frame_url or url))

    def _dialog(self, params: dict[str, Any], session: str | None) -> None:
        self._devtools.post("Page.handleJavaScriptDialog", {"accept": False}, session=session)
        frame_url = (
            self._case_frame_url(params.get("frameId"))
            or self._case_frame_url(self._session_opener.get(session or ""))
            or params.get("url", "")
        )
        execution = Execution(
            f"{params.get('type', 'unknown')} dialog",
            params.get("url", ""),
            repr(params.get("message", "")),
        )
        self._executions.append((execution, frame_url))

    def _binding_called(self, params: dict[str, Any], session: str | None) -> None:
        if params.get("name") != self._binding:
            return
        frame_url = self._frame_of_context(session, params.get("executionContextId"))
        execution = Execution(
            "dialog call", frame_url or "unknown frame", params.get("payload", "")
        )
        self._executions.append((execution, frame_url))

    def _console(self, params: dict[str, Any], session: str | None) -> None:
        frame_url = self._frame_of_context(session, params.get("executionContextId"))
        values = [argument.get("value", argument.get("description")) for argument in params["args"]]
        execution = Execution(
            f"console.{params.get('type')}", frame_url or "unknown frame", repr(values)
        )
        self._executions.append((execution, frame_url))

    # Helpers.

    def _frame_of_context(self, session: str | None, context_id: int | None) -> str | None:
        """Return the URL of the case that runs ``context_id``, or of its own frame."""
        frame_id = self._context_frame.get((session, context_id)) if context_id else None
        case_url = self._case_frame_url(frame_id)
        if case_url is None and session in self._session_opener:
            case_url = self._case_frame_url(self._session_opener[session])
        return case_url or self._frame_url.get(frame_id or "")

    def _case_frame_url(self, frame_id: str | None) -> str | None:
        """Return the URL of the case that ``frame_id`` or one of its ancestors was made for."""
        seen = set()
        while frame_id is not None and frame_id not in seen:
            seen.add(frame_id)
            if frame_id in self._frame_case:
                return self._frame_case[frame_id]
            frame_id = self._frame_parent.get(frame_id)
        return None

    def _report_for(
        self,
        frame_url: str | None,
        prefix: str,
        names: list[str],
        reports: dict[str, CaseReport],
        unattributed: CaseReport,
    ) -> CaseReport:
        if frame_url and frame_url.startswith(prefix):
            index = frame_url.removeprefix(prefix)
            if index.isdigit() and int(index) < len(names):
                return reports[names[int(index)]]
        return unattributed

    def _evaluate(self, expression: str, name: str) -> Any:
        result = self._devtools.send(
            "Runtime.evaluate",
            {
                "expression": f"{expression}\n//# sourceURL={self._tag}/{name}.js",
                "returnByValue": True,
                # Clicks count as user activation, so the popup blocker lets
                # target=_blank links open and their script is seen too.
                "userGesture": True,
            },
            session=self._main_session,
        )
        if "exceptionDetails" in result:
            raise RuntimeError(f"the probe's {name} script failed: {result['exceptionDetails']}")
        return result.get("result", {}).get("value")

    def _settle(self) -> None:
        """Handle events until none arrived for the quiet period, or the maximum passed."""
        start = time.monotonic()
        self._devtools.last_event_at = start
        self._devtools.pump(
            lambda: time.monotonic() - self._devtools.last_event_at >= _QUIET_PERIOD,
            _MAX_SETTLE,
        )


@contextlib.contextmanager
def running_probe(binary: str) -> Iterator[XssProbe]:
    """Start a page server, Chromium and a probe; stop all three on exit."""
    server = PageServer()
    chromium = None
    devtools = None
    probe = None
    try:
        chromium = Chromium(binary, server.publish("/", "<!doctype html><title>start</title>"))
        devtools = DevTools(chromium.websocket_url)
        probe = XssProbe(server, devtools)
        yield probe
    finally:
        if probe is not None:
            probe.close()
        if devtools is not None:
            devtools.close()
        if chromium is not None:
            chromium.close()
        server.close()
