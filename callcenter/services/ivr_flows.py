"""IVR flows as data: parse, validate, store and walk the menu tree that answers a phone number.

A flow is a plain mapping (JSON or YAML) so admins can load and edit it without a release:

    number: "+18005550100"          # the line it answers (E.164 after loading)
    name: Main line
    language: en-US                 # speech recognition and Say language (a Twilio language tag)
    voice: Polly.Joanna             # optional Twilio Say voice
    hours_queue: Support            # whose hours decide open/closed (default: first queue routed to)
    greeting: "Thank you for calling."
    after_hours: {action: voicemail, message: "We are closed."}   # voicemail | callback | hangup
    start: main
    nodes:
      main:
        prompt: "For sales, press 1 or say sales."
        timeout: 5                  # seconds of silence before a re-prompt
        choices:
          - {key: "1", speech: [sales, buy], queue: Sales, priority_boost: 2}
          - {key: "2", goto: other_node}
          - {key: "0", action: voicemail}
        default: {queue: Support}   # taken after two re-prompts
      chinese:
        language: zh-CN             # a node may speak and listen in another language (and voice) than the flow
        prompt: "销售请按1。"
        choices: [{key: "1", queue: Sales}]
        default: {queue: Sales}

A bilingual line asks first: a prompt (and the greeting) may be a list of segments, each said in its own language,
and a route may carry `set_language`, which keeps the caller's choice on the call (it then decides the language of
every later built-in text, the `language:` skill the call needs, and the pop's `caller_language`):

      language:
        prompt: ["For English, press 1.", {text: "中文服务请按2。", language: zh-CN}]
        choices:
          - {key: "1", set_language: en-US, goto: main}
          - {key: "2", set_language: zh-CN, goto: chinese}
        default: {set_language: en-US, goto: main}

Validation reports every problem at once, each with a path ("nodes.main.choices[2].queue"), because an admin
fixing a file one error per upload gives up. The navigator `decide` is pure: the webhook passes the node and
attempt it put in the Gather action URL plus what the caller pressed or said, and renders the Decision.
"""

from __future__ import annotations

import copy
import json
import logging
import re
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import select
from sqlalchemy.orm import Session

from callcenter.i18n_caller import caller_locale
from callcenter.models import IvrFlow, Queue
from callcenter.services import audit, business_hours, config_cache, queues
from callcenter.services.errors import Conflict, NotFound, ValidationFailed
from callcenter.services.messages import Message, t
from callcenter.services.phones import to_e164

log = logging.getLogger(__name__)

DEFAULT_FLOW_FILE = Path(__file__).resolve().parent.parent / "ivr_default_flow.yaml"
DEFAULT_NUMBER = "+18005550100"
BILINGUAL_FLOW_FILE = Path(__file__).resolve().parent.parent / "ivr_bilingual_flow.yaml"
BILINGUAL_NUMBER = "+18005550188"
DEFAULT_LANGUAGE = "en-US"
DEFAULT_TIMEOUT = 5
MAX_REPROMPTS = 2  # no input or a wrong key re-prompts this many times, then the node's default is taken
MAX_TEXT = 1000

TOP_FIELDS = ("number", "name", "language", "voice", "hours_queue", "greeting", "after_hours", "start", "nodes")
NODE_FIELDS = ("prompt", "language", "voice", "timeout", "reprompt", "choices", "default")
TARGET_FIELDS = ("queue", "priority_boost", "goto", "action", "message", "set_language")
SEGMENT_FIELDS = ("text", "language", "voice")
CHOICE_FIELDS = ("key", "speech", *TARGET_FIELDS)
AFTER_HOURS_FIELDS = ("action", "message")
ACTIONS = ("voicemail", "callback", "hangup")
KEYS = ("0", "1", "2", "3", "4", "5", "6", "7", "8", "9", "*", "#")
NODE_ID = re.compile(r"^[A-Za-z0-9_-]{1,60}$")
# The language tags Twilio's <Say> voices and <Gather> speech recognition know (alice's list, Polly's cmn-CN, Google's
# cmn-Hans-CN style); a flow naming anything else is refused rather than failing on a live call.
KNOWN_LANGUAGES = frozenset(tag.lower() for tag in (
    "en", "en-gb", "es", "fr", "de", "it",  # the man/woman voices' short codes
    "ar-AE", "ca-ES", "cs-CZ", "da-DK", "de-DE", "el-GR", "en-AU", "en-CA", "en-GB", "en-IE", "en-IN", "en-NZ",
    "en-US", "en-ZA", "es-ES", "es-MX", "es-US", "fi-FI", "fr-CA", "fr-FR", "he-IL", "hi-IN", "hu-HU", "id-ID",
    "it-IT", "ja-JP", "ko-KR", "ms-MY", "nb-NO", "nl-BE", "nl-NL", "pl-PL", "pt-BR", "pt-PT", "ro-RO", "ru-RU",
    "sk-SK", "sv-SE", "th-TH", "tr-TR", "uk-UA", "vi-VN",
    "zh-CN", "zh-HK", "zh-TW", "cmn-CN", "cmn-Hans-CN", "cmn-Hant-TW", "yue-CN", "yue-Hant-HK",
))
WORD = re.compile(r"[^\W_]+(?:'[^\W_]+)*")


class FlowValidationFailed(ValidationFailed):
    """A flow has problems; `problems` lists every one of them with its path."""

    def __init__(self, problems: list[FlowProblem]) -> None:
        count = len(problems)
        shown = [p.described() for p in problems[:5]] + (["..."] if count > 5 else [])
        summary: Message | str = shown[0] if shown else ""
        for more in shown[1:]:
            summary = t("%(first)s; %(then)s", first=summary, then=more)
        message = (t("The flow has 1 problem: %(summary)s", summary=summary) if count == 1
                   else t("The flow has %(count)s problems: %(summary)s", count=count, summary=summary))
        super().__init__(message, field=problems[0].path if problems else None)
        self.problems = problems


@dataclass(frozen=True)
class FlowProblem:
    """One thing wrong with a flow: where (`path`) and what, in words an admin can act on."""

    path: str
    message: str
    line: int | None = None  # for parse errors: the line in the uploaded text

    @property
    def node(self) -> str | None:
        """The node this problem belongs to, for showing it next to that node."""
        match = re.match(r"^nodes\.([^.\[]+)", self.path)
        return match.group(1) if match else None

    def __str__(self) -> str:
        return str(self.described())

    def described(self) -> Message | str:
        """"path: message" as a translatable message (the message stays in the reader's language at the edge)."""
        if not self.path:
            return self.message
        return t("%(path)s: %(message)s", path=self.path, message=self.message)


# --- Decisions returned by the navigator ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Prompt:
    """Play node `node_id`'s menu; `attempt` counts the failed tries so far, `reprompt` says "Sorry..." first."""

    node_id: str
    attempt: int = 0
    reprompt: bool = False
    step: dict[str, Any] | None = None


@dataclass(frozen=True)
class RouteToQueue:
    """Put the caller in `queue_name`, `priority_boost` above the queue's usual priority."""

    queue_name: str
    priority_boost: int = 0
    step: dict[str, Any] | None = None


@dataclass(frozen=True)
class Voicemail:
    message: str | None = None
    step: dict[str, Any] | None = None


@dataclass(frozen=True)
class Callback:
    message: str | None = None
    step: dict[str, Any] | None = None


@dataclass(frozen=True)
class Hangup:
    message: str | None = None
    step: dict[str, Any] | None = None


Decision = Prompt | RouteToQueue | Voicemail | Callback | Hangup


@dataclass(frozen=True)
class GreetingState:
    """What the greeting needs: open or closed, and the sentence about the next opening when closed."""

    open: bool
    hours_queue: str | None
    opening_message: str | None = None
    after_hours: dict[str, Any] = field(default_factory=dict)
    # The other languages the greeting speaks (a bilingual line), as (language, voice, opening sentence in it):
    # a caller who has not chosen yet still hears that the line is closed, and until when, in their language.
    other_openings: tuple[tuple[str, str | None, str | None], ...] = ()


# --- Parsing -------------------------------------------------------------------------------------------------------


def _format_of(filename_or_format: str) -> str:
    lowered = (filename_or_format or "").strip().lower()
    suffix = lowered.rsplit(".", 1)[-1]
    if suffix == "json":
        return "json"
    if suffix in ("yaml", "yml"):
        return "yaml"
    raise ValidationFailed(t('Unknown flow format %(filename_or_format)r: use a .json, .yaml or .yml file',
                             filename_or_format=filename_or_format),
                           field="file")


def parse_definition(text: str, filename_or_format: str) -> dict[str, Any]:
    """Parse JSON or YAML text into a flow mapping; a syntax error names its line and column."""
    kind = _format_of(filename_or_format)
    if not text or not text.strip():
        raise ValidationFailed(t('The flow file is empty'), field="file")
    if kind == "json":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ValidationFailed(t('Invalid JSON at line %(lineno)s, column %(colno)s: %(msg)s',
                                     lineno=exc.lineno, colno=exc.colno, msg=exc.msg),
                                   field="file") from None
    else:
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = t(" at line %(line)s, column %(column)s", line=mark.line + 1, column=mark.column + 1) \
                if mark is not None else ""
            problem = getattr(exc, "problem", None) or str(exc)
            context, context_mark = getattr(exc, "context", None), getattr(exc, "context_mark", None)
            about = f"{problem} {context or ''}"
            hint = t(' (quote * and # keys in YAML: key: "*")') if "alias" in about or "anchor" in about else ""
            started = (t(" (%(context)s started at line %(line)s)", context=context, line=context_mark.line + 1)
                       if context and context_mark else "")
            raise ValidationFailed(t('Invalid YAML%(where)s: %(problem)s%(started)s%(hint)s',
                                     where=where, problem=problem, started=started, hint=hint), field="file") from None
    if not isinstance(data, dict):
        raise ValidationFailed(t('A flow must be a mapping with number, start and nodes at the top level'),
                               field="file")
    return data


def dump_definition(definition: dict[str, Any], fmt: str = "yaml") -> str:
    """Serialise a flow for export or editing, keeping the author's key order."""
    if _format_of(fmt) == "json":
        return json.dumps(definition, indent=2, ensure_ascii=False) + "\n"
    return yaml.safe_dump(definition, sort_keys=False, allow_unicode=True, width=110)


# --- Validation ----------------------------------------------------------------------------------------------------


def _words(text: str) -> tuple[str, ...]:
    return tuple(w.lower() for w in WORD.findall(text))


def _key_text(value: Any) -> str | None:
    """A DTMF key as text; YAML turns `key: 1` into an int, which is what the author meant."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return value.strip()
    return None


def _speech_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return [value] if isinstance(value, str) else value if isinstance(value, list) else [value]


class _Validator:
    def __init__(self, definition: Any, queue_names: set[str]) -> None:
        self.definition = definition
        self.queue_names = queue_names
        self.problems: list[FlowProblem] = []

    def add(self, path: str, message: Message | str) -> None:
        self.problems.append(FlowProblem(path, message))

    def unknown_fields(self, mapping: dict[str, Any], allowed: tuple[str, ...], prefix: str) -> None:
        for name in mapping:
            if name not in allowed:
                self.add(f"{prefix}{name}", t("unknown field %(name)r (allowed: %(allowed)s)",
                                              name=name, allowed=", ".join(allowed)))

    def text(self, mapping: dict[str, Any], name: str, prefix: str, required: bool = False,
             limit: int = MAX_TEXT) -> str | None:
        value = mapping.get(name)
        if value is None:
            if required:
                self.add(f"{prefix}{name}", t("%(name)s is required", name=name))
            return None
        if not isinstance(value, str) or not value.strip():
            self.add(f"{prefix}{name}", t("%(name)s must be non-empty text", name=name))
            return None
        if len(value) > limit:
            self.add(f"{prefix}{name}", t("%(name)s is longer than %(limit)s characters", name=name, limit=limit))
        return value

    def queue(self, name: Any, path: str) -> None:
        if not isinstance(name, str) or not name.strip():
            self.add(path, t("queue must be a queue name"))
            return
        if name in self.queue_names:
            return
        close = [q for q in self.queue_names if q.lower() == name.strip().lower()]
        hint = t("; did you mean %(queue)r?", queue=close[0]) if close else (
            t(" (known queues: %(queues)s)", queues=", ".join(sorted(self.queue_names))) if self.queue_names
            else t(" (no queues exist)"))
        self.add(path, t("unknown queue %(name)r%(hint)s", name=name, hint=hint))

    def run(self) -> list[FlowProblem]:
        d = self.definition
        if not isinstance(d, dict):
            self.add("", t("a flow must be a mapping with number, start and nodes"))
            return self.problems
        self.unknown_fields(d, TOP_FIELDS, "")
        self.number(d)
        self.text(d, "name", "", limit=100)
        self.language(d, "language", "")
        self.text(d, "voice", "", limit=60)
        self.spoken(d, "greeting", "")
        if d.get("hours_queue") is not None:
            self.queue(d["hours_queue"], "hours_queue")
        self.after_hours(d.get("after_hours"))
        nodes = d.get("nodes")
        if nodes is None:
            self.add("nodes", t("nodes is required (a mapping of node id to menu)"))
            nodes = {}
        elif not isinstance(nodes, dict) or not nodes:
            self.add("nodes", t("nodes must be a non-empty mapping of node id to menu"))
            nodes = {}
        start = d.get("start")
        if start is None:
            self.add("start", t("start is required: the id of the first menu"))
        elif not isinstance(start, str) or start not in nodes:
            self.add("start", t("start node %(start)r does not exist%(known)s", start=start, known=self._known(nodes)))
        for node_id, node in nodes.items():
            self.node(str(node_id), node, nodes)
        if isinstance(start, str) and start in nodes:
            self.reachability(start, nodes)
            self.default_loops(nodes)
        return self.problems

    def language(self, mapping: dict[str, Any], name: str, prefix: str) -> None:
        """A language tag Twilio speaks and recognises ("en-US", "zh-CN"); anything else fails on a live call."""
        value = mapping.get(name)
        if value is None:
            return
        if not isinstance(value, str) or value.strip().lower() not in KNOWN_LANGUAGES:
            self.add(f"{prefix}{name}", t("unknown language %(value)r: use a language tag Twilio speaks, such as "
                                          "en-US, es-MX, zh-CN or cmn-CN", value=value))

    def spoken(self, mapping: dict[str, Any], name: str, prefix: str, required: bool = False) -> None:
        """Text to say: one text, or a list of segments, each text or {text, language, voice}."""
        value = mapping.get(name)
        if not isinstance(value, list):
            self.text(mapping, name, prefix, required=required)
            return
        if not value:
            self.add(f"{prefix}{name}", t("%(name)s must be non-empty text or a list of segments", name=name))
        for index, segment in enumerate(value):
            path = f"{prefix}{name}[{index}]"
            if isinstance(segment, str):
                self.text({"text": segment}, "text", f"{path}.")
            elif isinstance(segment, dict):
                self.unknown_fields(segment, SEGMENT_FIELDS, f"{path}.")
                self.text(segment, "text", f"{path}.", required=True)
                self.language(segment, "language", f"{path}.")
                self.text(segment, "voice", f"{path}.", limit=60)
            else:
                self.add(path, t("a segment is text or a mapping {text, language, voice}"))

    @staticmethod
    def _known(nodes: dict[str, Any]) -> Message | str:
        return t(" (nodes: %(nodes)s)", nodes=", ".join(map(str, nodes))) if nodes else ""

    def number(self, d: dict[str, Any]) -> None:
        raw = d.get("number")
        if raw is None:
            self.add("number", t('number is required: the phone number this flow answers, e.g. "+18005550100"'))
        elif not isinstance(raw, str):
            self.add("number", t('number must be quoted text like "+18005550100" (got %(raw)r)', raw=raw))
        else:
            try:
                to_e164(raw)
            except ValidationFailed as exc:
                self.add("number", exc.message)

    def after_hours(self, value: Any) -> None:
        if value is None:
            return
        if not isinstance(value, dict):
            self.add("after_hours", t("after_hours must be a mapping like {action: voicemail, message: ...}"))
            return
        self.unknown_fields(value, AFTER_HOURS_FIELDS, "after_hours.")
        action = value.get("action")
        if action is None:
            self.add("after_hours.action", t("after_hours.action is required (%(actions)s)",
                                             actions=" or ".join(ACTIONS)))
        elif action not in ACTIONS:
            self.add("after_hours.action", t("unknown after-hours action %(action)r (use %(actions)s)", action=action,
                                                   actions=", ".join(ACTIONS)))
        self.text(value, "message", "after_hours.")

    def node(self, node_id: str, node: Any, nodes: dict[str, Any]) -> None:
        prefix = f"nodes.{node_id}"
        if not NODE_ID.match(node_id):
            self.add(prefix, t("node id %(node_id)r may only use letters, digits, _ and - (at most 60)",
                               node_id=node_id))
        if not isinstance(node, dict):
            self.add(prefix, t("a node must be a mapping with prompt, choices and default"))
            return
        self.unknown_fields(node, NODE_FIELDS, f"{prefix}.")
        self.spoken(node, "prompt", f"{prefix}.", required=True)
        self.language(node, "language", f"{prefix}.")
        self.text(node, "voice", f"{prefix}.", limit=60)
        self.text(node, "reprompt", f"{prefix}.")
        timeout = node.get("timeout")
        if timeout is not None and (isinstance(timeout, bool) or not isinstance(timeout, int)
                                    or not 1 <= timeout <= 60):
            self.add(f"{prefix}.timeout", t("timeout must be a whole number of seconds from 1 to 60"))
        choices = node.get("choices")
        if choices is None or (isinstance(choices, list) and not choices):
            self.add(f"{prefix}.choices", t("a menu needs at least one choice"))
            choices = []
        elif not isinstance(choices, list):
            self.add(f"{prefix}.choices", t("choices must be a list"))
            choices = []
        keys: dict[str, int] = {}
        words: dict[tuple[str, ...], int] = {}
        for index, choice in enumerate(choices):
            self.choice(f"{prefix}.choices[{index}]", index, choice, nodes, keys, words)
        if "default" not in node or node.get("default") is None:
            self.add(f"{prefix}.default", t("default is required: where to go after two re-prompts"))
        else:
            self.target(f"{prefix}.default", node["default"], nodes, allowed=TARGET_FIELDS)

    def choice(self, path: str, index: int, choice: Any, nodes: dict[str, Any], keys: dict[str, int],
               words: dict[tuple[str, ...], int]) -> None:
        if not isinstance(choice, dict):
            self.add(path, t("a choice must be a mapping with key and/or speech and a target"))
            return
        if "key" in choice:
            key = _key_text(choice["key"])
            if key is None or key not in KEYS:
                shown = choice["key"]
                hint = t(' (in YAML write key: "#" or key: "*" in quotes)') if shown is None else ""
                self.add(f"{path}.key", t("invalid key %(key)r: use one of 0-9, * or #%(hint)s", key=shown, hint=hint))
            elif key in keys:
                self.add(f"{path}.key", t("duplicate key %(key)r (also used by choices[%(index)s])",
                                          key=key, index=keys[key]))
            else:
                keys[key] = index
        speech = _speech_list(choice.get("speech"))
        for n, entry in enumerate(speech):
            entry_path = f"{path}.speech[{n}]" if isinstance(choice.get("speech"), list) else f"{path}.speech"
            if not isinstance(entry, str) or not _words(entry):
                self.add(entry_path, t("speech words must be text (got %(entry)r; quote yes/no/on/off in YAML)",
                                       entry=entry))
                continue
            phrase = _words(entry)
            if phrase in words and words[phrase] != index:
                self.add(entry_path, t("duplicate speech word %(entry)r (also used by choices[%(index)s])", entry=entry,
                                               index=words[phrase]))
            words.setdefault(phrase, index)
        if "key" not in choice and not speech:
            self.add(path, t("a choice needs a key, speech words, or both"))
        self.target(path, choice, nodes, allowed=CHOICE_FIELDS)

    def target(self, path: str, target: Any, nodes: dict[str, Any], allowed: tuple[str, ...]) -> None:
        if not isinstance(target, dict):
            self.add(path, t("a route must be a mapping with one of queue, goto or action"))
            return
        self.unknown_fields(target, allowed, f"{path}.")
        kinds = [k for k in ("queue", "goto", "action") if k in target]
        if not kinds:
            self.add(path, t("says where to go with none of queue, goto or action"))
            return
        if len(kinds) > 1:
            self.add(path, t("has both %(first)s and %(second)s: use exactly one of queue, goto or action",
                                 first=kinds[0], second=kinds[1]))
            return
        kind = kinds[0]
        if kind == "queue":
            self.queue(target["queue"], f"{path}.queue")
        elif kind == "goto":
            goto = target["goto"]
            if not isinstance(goto, str) or goto not in nodes:
                self.add(f"{path}.goto", t("goto node %(goto)r does not exist%(known)s", goto=goto,
                                                      known=self._known(nodes)))
        elif target["action"] not in ACTIONS:
            self.add(f"{path}.action", t("unknown action %(action)r (use %(actions)s)", action=target["action"],
                                                    actions=", ".join(ACTIONS)))
        boost = target.get("priority_boost")
        if boost is not None:
            if kind != "queue":
                self.add(f"{path}.priority_boost", t("priority_boost only applies to a queue route"))
            elif isinstance(boost, bool) or not isinstance(boost, int) or not -100 <= boost <= 100:
                self.add(f"{path}.priority_boost", t("priority_boost must be a whole number from -100 to 100"))
        self.language(target, "set_language", f"{path}.")
        if "message" in target:
            if kind != "action":
                self.add(f"{path}.message", t("message only applies to an action route"))
            else:
                self.text(target, "message", f"{path}.")

    def reachability(self, start: str, nodes: dict[str, Any]) -> None:
        seen = {start}
        pending = [start]
        while pending:
            for goto in _gotos(nodes.get(pending.pop())):
                if goto in nodes and goto not in seen:
                    seen.add(goto)
                    pending.append(goto)
        for node_id in nodes:
            if node_id not in seen:
                self.add(f"nodes.{node_id}", t("unreachable node: no choice or default leads here from %(start)r",
                                               start=start))

    def default_loops(self, nodes: dict[str, Any]) -> None:
        """A caller who never answers follows defaults only; a loop of them would keep the call forever."""
        reported: set[str] = set()
        for first in nodes:
            chain = [first]
            while True:
                node = nodes.get(chain[-1])
                default = node.get("default") if isinstance(node, dict) else None
                goto = default.get("goto") if isinstance(default, dict) else None
                if not isinstance(goto, str) or goto not in nodes:
                    break
                if goto in chain:
                    loop = chain[chain.index(goto):]
                    if not reported.intersection(loop):
                        reported.update(loop)
                        self.add(f"nodes.{goto}.default",
                                 t("defaults loop (%(loop)s): a silent caller would never leave; end one default "
                                   "in a queue or an action", loop=" -> ".join([*loop, goto])))
                    break
                chain.append(goto)


def _gotos(node: Any) -> list[str]:
    if not isinstance(node, dict):
        return []
    targets = [c for c in node.get("choices") or [] if isinstance(c, dict)]
    if isinstance(node.get("default"), dict):
        targets.append(node["default"])
    return [target["goto"] for target in targets if isinstance(target.get("goto"), str)]


def queue_names(session: Session) -> set[str]:
    return set(session.scalars(select(Queue.name)))


def validate_flow(session: Session, definition: Any) -> list[FlowProblem]:
    """Every problem in `definition` (empty list: the flow can be saved), checked against existing queues."""
    return _Validator(definition, queue_names(session)).run()


def normalise(definition: dict[str, Any]) -> dict[str, Any]:
    """The stored form of a valid flow: E.164 number, keys as text, speech as lists."""
    result = copy.deepcopy(definition)
    result["number"] = to_e164(result["number"])
    for node in result["nodes"].values():
        for choice in node["choices"]:
            if "key" in choice:
                choice["key"] = _key_text(choice["key"])
            if "speech" in choice:
                choice["speech"] = [s.strip() for s in _speech_list(choice["speech"])]
    return result


# --- Storage -------------------------------------------------------------------------------------------------------


def flow_for_number(session: Session, e164: str) -> IvrFlow | None:
    """The active flow answering `e164`, if any."""
    return session.scalar(select(IvrFlow).where(IvrFlow.phone_number == e164, IvrFlow.active.is_(True)))


def active_definition(session: Session, e164: str) -> dict[str, Any] | None:
    """The definition of the number's active flow (None when it has none), from the process cache: every voice
    webhook reads it."""
    def load() -> dict[str, Any] | None:
        flow = flow_for_number(session, e164)
        return flow.definition if flow is not None else None

    return config_cache.cache.get(config_cache.IVR_FLOWS, e164, load)


def list_flows(session: Session) -> list[IvrFlow]:
    return list(session.scalars(select(IvrFlow).order_by(IvrFlow.phone_number)))


def get_flow(session: Session, flow_id: int) -> IvrFlow:
    flow = session.get(IvrFlow, flow_id)
    if flow is None:
        raise NotFound(t('IVR flow %(flow_id)s does not exist', flow_id=flow_id))
    return flow


def save_flow(session: Session, actor_id: int | None, definition: Any, *, flow_id: int | None = None,
              ip_address: str | None = None) -> IvrFlow:
    """Validate and store a flow (new, or a new version of the flow for its number / `flow_id`); audited.

    Raises FlowValidationFailed (a ValidationFailed) listing every problem; nothing is stored then.
    The caller commits.
    """
    problems = validate_flow(session, definition)
    if problems:
        raise FlowValidationFailed(problems)
    stored = normalise(definition)
    number = stored["number"]
    holder = session.scalar(select(IvrFlow).where(IvrFlow.phone_number == number))
    if flow_id is not None:
        flow = get_flow(session, flow_id)
        if holder is not None and holder.id != flow.id:
            raise Conflict(t('%(number)s already has its own flow (%(name)r); edit that one instead',
                             number=number, name=holder.name),
                           field="number")
    else:
        flow = holder
    created = flow is None
    if flow is None:
        flow = IvrFlow(phone_number=number, version=1, active=True)
        session.add(flow)
    else:
        flow.version += 1
    flow.phone_number = number
    flow.name = stored.get("name") or number
    flow.definition = stored
    flow.updated_by_id = actor_id
    session.flush()
    audit.record(session, "ivr_flow.created" if created else "ivr_flow.updated", actor_id=actor_id, entity=flow,
                 ip_address=ip_address, number=number, version=flow.version, name=flow.name)
    return flow


def set_active(session: Session, actor_id: int | None, flow_id: int, active: bool,
               ip_address: str | None = None) -> IvrFlow:
    """Switch a flow on or off (an inactive flow answers no calls); audited, the caller commits."""
    flow = get_flow(session, flow_id)
    if flow.active != active:
        flow.active = active
        flow.updated_by_id = actor_id
        audit.record(session, "ivr_flow.activated" if active else "ivr_flow.deactivated", actor_id=actor_id,
                     entity=flow, ip_address=ip_address, number=flow.phone_number, version=flow.version)
    session.flush()
    return flow


def ensure_flow_file(session: Session, path: Path) -> IvrFlow | None:
    """Load the flow in `path` unless its number already has a flow."""
    definition = parse_definition(path.read_text(encoding="utf-8"), path.name)
    number = to_e164(str(definition.get("number") or ""))
    if session.scalar(select(IvrFlow.id).where(IvrFlow.phone_number == number)) is not None:
        return None
    return save_flow(session, None, definition)


def ensure_default_flow(session: Session) -> IvrFlow | None:
    """Load the demo flow (callcenter/ivr_default_flow.yaml) unless its number already has a flow."""
    return ensure_flow_file(session, DEFAULT_FLOW_FILE)


def ensure_bilingual_flow(session: Session) -> IvrFlow | None:
    """Load the bilingual demo flow (callcenter/ivr_bilingual_flow.yaml: English / 中文 first) unless its number
    already has a flow."""
    return ensure_flow_file(session, BILINGUAL_FLOW_FILE)


config_cache.watch(IvrFlow, config_cache.IVR_FLOWS)


# --- Reading a stored flow -----------------------------------------------------------------------------------------


def language_of(definition: dict[str, Any]) -> str:
    return definition.get("language") or DEFAULT_LANGUAGE


def voice_of(definition: dict[str, Any]) -> str | None:
    return definition.get("voice")


def _same_language(a: str, b: str) -> bool:
    return a.strip().lower() == b.strip().lower()


def _speech_in(language: str | None, voice: str | None, definition: dict[str, Any]) -> tuple[str, str | None]:
    """(language, voice) for text in `language`: the flow's voice only speaks the flow's language, so a part in
    another language without a voice of its own gets Twilio's default voice for that language."""
    flow_language = language_of(definition)
    if not language or _same_language(language, flow_language):
        return flow_language, voice or voice_of(definition)
    return language, voice


def node_speech(definition: dict[str, Any], node: dict[str, Any]) -> tuple[str, str | None]:
    """(language, voice) a node speaks and listens in: its own, else the flow's."""
    return _speech_in(node.get("language"), node.get("voice"), definition)


def segments(value: Any, language: str, voice: str | None,
             definition: dict[str, Any]) -> list[tuple[str, str, str | None]]:
    """A prompt or greeting as (text, language, voice) parts: plain text is said in `language` with `voice`."""
    parts: list[tuple[str, str, str | None]] = []
    for segment in value if isinstance(value, list) else [value]:
        if isinstance(segment, dict):
            text, own_language, own_voice = segment.get("text"), segment.get("language"), segment.get("voice")
        else:
            text, own_language, own_voice = segment, None, None
        if not isinstance(text, str) or not text.strip():
            continue
        if own_language:
            parts.append((text, *_speech_in(own_language, own_voice, definition)))
        else:
            parts.append((text, language, own_voice or voice))
    return parts


def speech_for(definition: dict[str, Any], locale: str | None) -> tuple[str, str | None]:
    """(language, voice) for the built-in texts of a call whose caller chose `locale` ("zh_Hans"; None: the flow's).

    The flow's own language when it matches, else the first node or `set_language` in that language.
    """
    flow_language = language_of(definition)
    if not locale or caller_locale(flow_language) == locale:
        return flow_language, voice_of(definition)
    chosen: str | None = None
    for node in (definition.get("nodes") or {}).values():
        if not isinstance(node, dict):
            continue
        if isinstance(node.get("language"), str) and caller_locale(node["language"]) == locale:
            return node_speech(definition, node)
        for target in [*(node.get("choices") or []), node.get("default") or {}]:
            tag = target.get("set_language") if isinstance(target, dict) else None
            if chosen is None and isinstance(tag, str) and caller_locale(tag) == locale:
                chosen = tag
    return (chosen, None) if chosen else (flow_language, voice_of(definition))


def chosen_language(decision: Decision) -> str | None:
    """The language tag the caller chose with this answer (a route with `set_language`), if any."""
    step = decision.step or {}
    language = step.get("language")
    return language if isinstance(language, str) and language else None


def node_of(definition: dict[str, Any], node_id: str) -> dict[str, Any] | None:
    node = (definition.get("nodes") or {}).get(node_id)
    return node if isinstance(node, dict) else None


def hints_of(node: dict[str, Any]) -> list[str]:
    """The speech words a node listens for, in menu order (Gather `hints`)."""
    hints: list[str] = []
    for choice in node.get("choices") or []:
        for word in _speech_list(choice.get("speech")):
            if isinstance(word, str) and word.strip() and word.strip() not in hints:
                hints.append(word.strip())
    return hints


def hours_queue_name(definition: dict[str, Any]) -> str | None:
    """`hours_queue`, else the first queue a caller can reach from the start node (menu order)."""
    if definition.get("hours_queue"):
        return definition["hours_queue"]
    nodes = definition.get("nodes") or {}
    start = definition.get("start")
    seen: set[str] = set()
    order = [start] if start in nodes else []
    while order:
        node_id = order.pop(0)
        if node_id in seen:
            continue
        seen.add(node_id)
        node = nodes[node_id]
        for target in [*(node.get("choices") or []), node.get("default") or {}]:
            if target.get("queue"):
                return target["queue"]
        order.extend(g for g in _gotos(node) if g in nodes and g not in seen)
    return None


def greeting_languages(definition: dict[str, Any]) -> list[tuple[str, str | None]]:
    """(language, voice) of each language the greeting speaks, the flow's own first, one per caller locale."""
    found = [(language_of(definition), voice_of(definition))]
    seen = {caller_locale(found[0][0])}
    greeting = definition.get("greeting")
    for _text, language, voice in segments(greeting, *found[0], definition) if greeting else []:
        if caller_locale(language) not in seen:
            seen.add(caller_locale(language))
            found.append((language, voice))
    return found


def greeting_state(session: Session, definition: dict[str, Any], now: datetime) -> GreetingState:
    """Open or closed at `now` by the hours queue's clock and holidays; a flow with no queue is always open."""
    name = hours_queue_name(definition)
    queue = queues.queue_named(session, name) if name else None
    after = definition.get("after_hours") or {"action": "voicemail"}
    if queue is None:
        return GreetingState(True, name, None, after)
    try:
        if business_hours.is_open(queue, now):
            return GreetingState(True, name, None, after)
        others = tuple((language, voice, business_hours.opening_message(queue, now, language))
                       for language, voice in greeting_languages(definition)[1:])
        return GreetingState(False, name, business_hours.opening_message(queue, now, language_of(definition)), after,
                             others)
    except ValidationFailed as exc:
        # Broken hours must not turn callers away: answer as open and leave the admin a trail.
        log.warning("IVR flow %s: hours of queue %r are unusable (%s); treating the line as open",
                    definition.get("number"), name, exc.message)
        return GreetingState(True, name, None, after)


# --- The navigator -------------------------------------------------------------------------------------------------


def _route(target: dict[str, Any], step: dict[str, Any]) -> Decision:
    if target.get("set_language"):
        step = {**step, "language": target["set_language"]}
    if "queue" in target:
        return RouteToQueue(target["queue"], int(target.get("priority_boost") or 0), step)
    if "goto" in target:
        return Prompt(target["goto"], 0, False, step)
    action, message = target.get("action"), target.get("message")
    if action == "callback":
        return Callback(message, step)
    if action == "hangup":
        return Hangup(message, step)
    return Voicemail(message, step)


def _match_speech(node: dict[str, Any], speech: str) -> dict[str, Any] | None:
    """The one choice whose word or phrase occurs as whole words in `speech`; None if none or several do.

    A word inside a longer matched phrase does not count on its own: "call back" is the callback choice even
    when another choice listens for "back".
    """
    said = _words(speech)
    spans: list[tuple[int, int, int]] = []  # (start, end, choice index)
    choices = node.get("choices") or []
    for index, choice in enumerate(choices):
        for entry in _speech_list(choice.get("speech")):
            phrase = _words(entry) if isinstance(entry, str) else ()
            for start in range(len(said) - len(phrase) + 1 if phrase else 0):
                if said[start:start + len(phrase)] == phrase:
                    spans.append((start, start + len(phrase), index))
    kept = {index for start, end, index in spans
            if not any(s <= start and end <= e and (e - s) > (end - start) for s, e, _ in spans)}
    return choices[kept.pop()] if len(kept) == 1 else None


def start_prompt(definition: dict[str, Any]) -> Prompt:
    """The first menu of a call."""
    return Prompt(definition["start"], 0, False, None)


def decide(definition: dict[str, Any], node_id: str, attempt: int, digits: str | None,
           speech: str | None) -> Decision:
    """What to do after the caller answered (or didn't) node `node_id` on try `attempt` (0 = first).

    DTMF wins over speech; speech matches case-insensitively on whole words. No input or a wrong answer
    re-prompts (attempt + 1) up to MAX_REPROMPTS times, then the node's default is taken. The returned
    decision's `step` is the path element consumed, e.g. {"node": "main", "input": "2", "via": "dtmf"},
    for the call's IVR path in the screen-pop. A node that no longer exists (flow edited mid-call) restarts.
    """
    node = node_of(definition, node_id)
    if node is None:
        return Prompt(definition["start"], 0, True, None)
    attempt = max(0, attempt)
    key = (digits or "").strip()
    heard = (speech or "").strip()
    if key:
        for choice in node.get("choices") or []:
            if choice.get("key") is not None and _key_text(choice["key"]) == key:
                return _route(choice, {"node": node_id, "input": key, "via": "dtmf"})
    elif heard:
        choice = _match_speech(node, heard)
        if choice is not None:
            return _route(choice, {"node": node_id, "input": heard[:200], "via": "speech"})
    if attempt < MAX_REPROMPTS:
        return Prompt(node_id, attempt + 1, True, None)
    given = key or heard[:200] or None
    return _route(node["default"], {"node": node_id, "input": given, "via": "default"})
