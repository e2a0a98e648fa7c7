"""Every string people read goes through the catalogue, and the Chinese catalogue translates all of it.

Templates are lexed with Jinja (text between tags and the attributes people read must be `_()` calls), the
pages' JavaScript is scanned for string literals that read as words and are not wrapped in `_()`, and a fresh
extraction (babel.cfg, as `make messages` runs it) must find every msgid translated, non-fuzzy, in zh_Hans.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path

import pytest
from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po
from jinja2 import Environment

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE_DIRS = ["callcenter/web/templates", "agent_ui/templates", "callcenter/telephony/sim/templates"]
JS_FILES = ["agent_ui/static/common.js", "agent_ui/static/console.js", "agent_ui/static/wallboard.js",
            "agent_ui/static/kb.js", "agent_ui/static/preview.js", "callcenter/telephony/sim/static/caller.js"]
KEYWORDS = {"_": None, "gettext": None, "ngettext": (1, 2), "t": None, "N_": None, "_l": None}

# Proper names, key names and product terms shown as they are in every language.
ALLOWED_WORDS = {"callcenter", "Alt", "VIP", "YAML", "JSON", "UTC"}
# JS string literals that are machine values (CSS classes, DOM ids, event names, API paths, storage keys).
JS_MACHINE = re.compile(r"^(?:[a-z0-9_.:\-]*|[a-z][a-zA-Z]*|.*[\[\]=#/?].*)$")
JS_ALLOWED = {"Content-Type", "X-CSRFToken", "Accept", "GET", "POST", "PATCH", "DELETE", "KeyA", "KeyH", "KeyM",
              "KeyK", "Twilio", "io server disconnect", "offer_ack refused", "softphone error", "use strict",
              "time muted", "call muted",
              "zh-CN", "zh-TW", "zh-HK"}  # language tags the caller page gives the browser's speech
# Class names the stylesheet defines: a literal made only of these (or of a "state-" style prefix) is a className.
CSS_CLASSES = set(re.findall(r"\.([a-z][a-z0-9\-]*)", (ROOT / "agent_ui/static/app.css").read_text()))


def _is_class_list(value: str) -> bool:
    tokens = value.split()
    return bool(tokens) and all(
        token in CSS_CLASSES or (token.endswith("-") and any(c.startswith(token) for c in CSS_CLASSES))
        for token in tokens)


def _words(text: str) -> list[str]:
    return [w for w in re.findall(r"[A-Za-z][A-Za-z'\u2019]+", text) if w not in ALLOWED_WORDS]


class _TextCollector(HTMLParser):
    """Text nodes and readable attributes of a template whose Jinja parts were replaced by a marker."""

    READABLE = ("title", "placeholder", "aria-label", "alt")

    def __init__(self) -> None:
        super().__init__()
        self.found: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag, attrs):
        if tag in ("style", "script"):
            self._skip += 1
        for name, value in attrs:
            if name in self.READABLE and value and _words(value):
                self.found.append(f'{tag}[{name}="{value}"]')

    def handle_endtag(self, tag):
        if tag in ("style", "script"):
            self._skip -= 1

    def handle_data(self, data):
        if not self._skip and _words(data):
            self.found.append(data.strip())


def _template_leftovers(source: str) -> list[str]:
    """Readable English outside `_()`: in the HTML, and string literals printed by `{{ ... }}`."""
    env = Environment(extensions=["jinja2.ext.i18n"])
    html: list[str] = []
    printed: list[str] = []
    previous = None
    in_print = False
    depth = 0  # inside a call's or a dict's brackets, strings are arguments (names, flags), not printed text
    for _lineno, kind, value in env.lex(source):
        if kind == "operator" and value in "([{":
            depth += 1
        elif kind == "operator" and value in ")]}":
            depth -= 1
        if kind == "data":
            html.append(value)
        elif kind == "comment_begin":
            pass
        elif kind in ("variable_begin", "block_begin"):
            so_far = "".join(html)
            inside_tag = so_far.rfind("<") > so_far.rfind(">")  # an attribute value: class names, flags
            html.append("\x00")
            in_print = kind == "variable_begin" and not inside_tag
        elif kind in ("variable_end", "block_end"):
            in_print = False
        elif (kind == "string" and in_print and depth == 0
              and previous in ("variable_begin", "if", "else", "or", "~") and _words(value.strip("'\""))):
            printed.append(value)
        if kind not in ("whitespace",):
            previous = value if kind in ("name", "operator") else kind
    collector = _TextCollector()
    collector.feed("".join(html))
    return collector.found + printed


def _templates() -> list[Path]:
    return sorted(p for d in TEMPLATE_DIRS for p in (ROOT / d).rglob("*.html"))


@pytest.mark.parametrize("path", _templates(), ids=lambda p: str(p.relative_to(ROOT)))
def test_templates_show_no_text_outside_the_catalogue(path):
    assert _template_leftovers(path.read_text()) == []


def test_the_template_check_catches_a_bare_string():
    leftovers = _template_leftovers('<h1>Hello</h1><p title="Tip">{{ _("ok") }}</p>{{ "Shown" if x else "" }}')
    assert leftovers == ["Hello", 'p[title="Tip"]', '"Shown"']


def _js_strings(source: str) -> list[tuple[int, str]]:
    """(offset, value) of every string literal, skipping comments; a small tokenizer, enough for our scripts."""
    found, i, n = [], 0, len(source)
    while i < n:
        c = source[i]
        if source.startswith("//", i):
            i = source.find("\n", i) % (n + 1) if "\n" in source[i:] else n
        elif source.startswith("/*", i):
            i = source.index("*/", i) + 2
        elif c in "'\"`":
            j = i + 1
            while source[j] != c:
                j += 2 if source[j] == "\\" else 1
            found.append((i, source[i + 1:j]))
            i = j + 1
        else:
            i += 1
    return found


def _js_leftovers(source: str) -> list[str]:
    """JS string literals that read as words and are not the argument of `_()`."""
    found = []
    for start, value in _js_strings(source):
        before = source[max(0, start - 2):start]
        if (before == "_(" or value in JS_ALLOWED or JS_MACHINE.match(value) or _is_class_list(value)
                or not _words(value)):
            continue
        found.append(value)
    return found


@pytest.mark.parametrize("name", JS_FILES)
def test_page_scripts_show_no_text_outside_the_catalogue(name):
    assert _js_leftovers((ROOT / name).read_text()) == []


def test_the_script_check_catches_a_bare_string():
    source = ('text("a", _("Ready")); el("div", { className: "notice info", text: "Call ended" }); x("cc.key");'
              ' status("left the call"); el("p", { className: "badge state-" + s });')
    assert _js_leftovers(source) == ["Call ended", "left the call"]


def _extracted() -> Catalog:
    """What `make messages` would extract now, with the same babel.cfg and keywords."""
    import configparser

    config = configparser.RawConfigParser()
    config.read(ROOT / "babel.cfg")
    method_map = []
    for section in config.sections():
        method, pattern = section.split(":", 1)
        method_map.append((pattern.strip(), method.strip()))
    catalog = Catalog()
    for filename, lineno, message, comments, context in extract_from_dir(
            str(ROOT), method_map, keywords=KEYWORDS, comment_tags=("TRANSLATORS:",)):
        catalog.add(message, None, [(filename, lineno)], auto_comments=comments, context=context)
    return catalog


def _catalogue(locale: str) -> Catalog:
    path = ROOT / "callcenter" / "translations" / locale / "LC_MESSAGES" / "messages.po"
    with path.open("rb") as handle:
        return read_po(handle, locale=locale)


def test_every_extracted_message_is_translated_in_chinese_and_known_in_english():
    extracted = _extracted()
    assert len(extracted) > 300  # the extraction found the templates, the Python and the JS
    chinese, english = _catalogue("zh_Hans"), _catalogue("en")
    problems = []
    for message in extracted:
        if not message.id:
            continue
        zh = chinese.get(message.id)
        if zh is None:
            problems.append(f"missing in zh_Hans: {message.id!r} — run `make messages` and translate")
        elif not zh.string:
            problems.append(f"empty in zh_Hans: {message.id!r}")
        elif zh.fuzzy:
            problems.append(f"fuzzy in zh_Hans: {message.id!r}")
        if english.get(message.id) is None:
            problems.append(f"missing in en: {message.id!r}")
    assert problems == []


@pytest.mark.parametrize("locale", ["en", "zh_Hans"])
def test_translations_keep_the_placeholders(locale):
    """A translation that drops or renames a %(name)s would crash or lie at runtime."""
    catalog = _catalogue(locale)
    errors = [(message.id, [str(e) for e in errs]) for message, errs in catalog.check()]
    assert errors == []
    for message in catalog:
        if message.id and message.string:
            assert set(re.findall(r"%\((\w+)\)", message.id)) == set(re.findall(r"%\((\w+)\)", message.string)), \
                message.id
