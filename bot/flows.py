"""Load and validate the dialogs in `dialogs/` (YAML graphs with Jinja2 text).

Everything that can be wrong with a flow is found here, at start-up and by `rebound check`:
unknown or unreachable steps, loops that never wait for the user, missing texts, undefined
template variables, unknown actions. A user never meets a broken flow mid-conversation.

User text only ever reaches a template as a value: the environment is sandboxed with strict
undefined, and templates come only from the dialog files.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from jinja2 import StrictUndefined, TemplateSyntaxError, meta, nodes
from jinja2.sandbox import ImmutableSandboxedEnvironment

ASK_KINDS = frozenset({"none", "choice", "multi", "text", "number", "date"})
END = "end"
DEFAULT_DIR = Path(__file__).resolve().parent.parent / "dialogs"
# Engine texts every deployment must define in dialogs/system.yaml.
REQUIRED_TEXTS = frozenset(
    {
        "empty",
        "too_long",
        "unknown_command",
        "stale_choice",
        "stale_form",
        "dms_closed",
        "pick_option",
        "text_expected",
        "not_a_number",
        "not_a_date",
        "moved",
        "resume",
        "idle",
        "try_again",
        "timer_offer",
        "skip",
        "private_continue",
        "later",
        "home",
        "snoozed",
        "snooze_1h",
        "snooze_evening",
        "snooze_nextday",
    }
)
# Names every template may use besides the flows' own answers.
GLOBALS = frozenset({"now", "today", "label", "labels", "platform", "first_time"})
# Answers the engine itself sets: the opening message, and the stage to go to after /rebound.
ENGINE_ANSWERS = frozenset({"opening", "after"})
# Extra names the engine passes to some of its texts.
TEXT_VARIABLES: Mapping[str, frozenset[str]] = {
    "too_long": frozenset({"limit", "length"}),
    "unknown_command": frozenset({"command"}),
    "not_a_number": frozenset({"minimum", "maximum"}),
    "timer_offer": frozenset({"timer", "gentle"}),
    "snoozed": frozenset({"when"}),
}


_NONE: frozenset[str] = frozenset()


class FlowError(Exception):
    """A dialog file is broken. The message names the file and step and says what to fix."""


def human_join(items: Iterable[str]) -> str:
    items = [str(i) for i in items]
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]


def make_env() -> ImmutableSandboxedEnvironment:
    env = ImmutableSandboxedEnvironment(
        undefined=StrictUndefined, autoescape=False, trim_blocks=True, lstrip_blocks=True
    )
    env.filters["join_human"] = human_join
    env.filters["quote"] = lambda text: "\n".join("> " + line for line in str(text).splitlines())
    return env


@dataclass(frozen=True, slots=True)
class Branch:
    target: str  # qualified step id or END
    condition: Callable[..., Any] | None = None
    condition_src: str = ""


@dataclass(frozen=True, slots=True)
class Option:
    id: str
    label: str
    next: tuple[Branch, ...] = ()
    command: str | None = None  # a button that runs a command: valid from any old message


@dataclass(frozen=True, slots=True)
class ActionCall:
    name: str
    arg: Any = None


@dataclass(slots=True)
class Step:
    id: str  # qualified: "feel.intensity"
    flow: str
    ask: str = "none"
    say: Any = None  # compiled template
    say_src: str = ""
    options: tuple[Option, ...] = ()
    save_as: str | None = None
    prepare: tuple[ActionCall, ...] = ()
    do: tuple[ActionCall, ...] = ()
    next: tuple[Branch, ...] = ()
    minimum: int = 1
    maximum: int = 10
    form: dict[str, Any] | None = None  # {"title", "label", "initial" (template)}
    skip: bool = False  # an optional answer: offers a "skip" choice
    options_from: str | None = None  # answers[name]: a list of {id, label} made by an action
    text_as: str | None = None  # on a choice step: words that match no option are kept here
    breathing: dict[str, float] | None = None

    def option(self, option_id: str) -> Option | None:
        for opt in self.options:
            if opt.id == option_id:
                return opt
        return None


@dataclass(slots=True)
class Flow:
    name: str
    path: Path
    entry: str
    fallback: str
    command: str | None = None
    needs_episode: bool = False
    resumable: bool = True  # /rebound picks this flow up again (settings menus: no)
    title: str = ""
    steps: dict[str, Step] = field(default_factory=dict)


@dataclass(slots=True)
class Catalog:
    """Every flow, step and text, validated. Built once at start-up."""

    flows: dict[str, Flow]
    steps: dict[str, Step]
    texts: dict[str, Any]
    data: dict[str, Any]
    commands: dict[str, str]  # command name -> flow name
    env: ImmutableSandboxedEnvironment
    answers: frozenset[str]  # every name a step saves or an action provides: None until set

    def label(self, step_id: str, value: Any) -> str:
        step = self.steps.get(step_id)
        opt = step.option(str(value)) if step else None
        return opt.label if opt else str(value)

    def labels(self, step_id: str, values: Iterable[Any] | None) -> str:
        return human_join(self.label(step_id, v) for v in values or ())


class _Loader:
    def __init__(self, actions: Mapping[str, frozenset[str]]) -> None:
        self.env = make_env()
        self.actions = actions  # action name -> variables it provides
        self.errors: list[str] = []

    def err(self, where: str, message: str) -> None:
        self.errors.append(f"{where}: {message}")

    def template(self, where: str, source: Any) -> Any:
        if not isinstance(source, str):
            self.err(where, f"expected text, got {type(source).__name__}")
            return None
        try:
            return self.env.from_string(source)
        except TemplateSyntaxError as exc:
            self.err(where, f"template syntax error on line {exc.lineno}: {exc.message}")
            return None

    def expression(self, where: str, source: str) -> Callable[..., Any] | None:
        try:
            return self.env.compile_expression(source)
        except TemplateSyntaxError as exc:
            self.err(where, f"condition {source!r} does not parse: {exc.message}")
            return None


def _variables(env: ImmutableSandboxedEnvironment, source: str) -> set[str]:
    try:
        return set(meta.find_undeclared_variables(env.parse(source)))
    except TemplateSyntaxError:
        return set()


def _expr_variables(env: ImmutableSandboxedEnvironment, source: str) -> set[str]:
    try:
        tree = env.parse("{{ " + source + " }}")
    except TemplateSyntaxError:
        return set()
    return {n.name for n in tree.find_all(nodes.Name) if n.ctx == "load"}


def load_catalog(
    directory: Path | str = DEFAULT_DIR, *, actions: Mapping[str, frozenset[str]] | None = None
) -> Catalog:
    """Load every `*.yaml` flow in `directory`; raise FlowError listing every problem found."""
    if actions is None:
        from bot.actions import ACTION_VARIABLES

        actions = ACTION_VARIABLES
    directory = Path(directory)
    loader = _Loader(actions)
    raw_flows: dict[str, tuple[Path, dict[str, Any]]] = {}
    texts_src: dict[str, tuple[str, Any]] = {}
    data: dict[str, Any] = {}
    files = sorted(directory.glob("*.yaml"))
    if not files:
        raise FlowError(f"{directory}: no dialog files (*.yaml) found")
    for path in files:
        where = path.name
        try:
            doc = yaml.safe_load(path.read_text(encoding="utf-8"))
        except yaml.YAMLError as exc:
            raise FlowError(f"{where}: not valid YAML: {exc}") from exc
        if not isinstance(doc, dict):
            raise FlowError(f"{where}: expected a mapping at the top level")
        for key, src in (doc.get("texts") or {}).items():
            if key in texts_src:
                loader.err(where, f"text {key!r} is also defined in {texts_src[key][0]}")
            texts_src[key] = (where, src)
        for key, value in (doc.get("data") or {}).items():
            if key in data:
                loader.err(where, f"data {key!r} is defined twice")
            data[key] = value
        if "flow" in doc:
            name = doc["flow"]
            if name in raw_flows:
                loader.err(where, f"flow {name!r} is also defined in {raw_flows[name][0].name}")
            raw_flows[name] = (path, doc)

    texts = {k: loader.template(f"{w}: text {k!r}", src) for k, (w, src) in texts_src.items()}
    for missing in sorted(REQUIRED_TEXTS - texts.keys()):
        loader.err("system.yaml", f"the engine needs a text named {missing!r}")

    flows: dict[str, Flow] = {}
    steps: dict[str, Step] = {}
    for name, (path, doc) in raw_flows.items():
        flow = _parse_flow(loader, name, path, doc)
        flows[name] = flow
        steps.update(flow.steps)

    _check_references(loader, flows, steps)
    commands: dict[str, str] = {}
    for flow in flows.values():
        if flow.command:
            if flow.command in commands:
                loader.err(flow.path.name, f"command /{flow.command} is claimed twice")
            commands[flow.command] = flow.name
        for step in flow.steps.values():
            for opt in step.options:
                if opt.command and opt.command not in {f.command for f in flows.values()}:
                    loader.err(
                        f"{flow.path.name}: step {step.id!r}",
                        f"option {opt.id!r} runs unknown command /{opt.command}",
                    )
    for kind, flow_name in (data.get("timer_flows") or {}).items():
        if flow_name not in flows:
            loader.err("system.yaml", f"timer {kind!r} opens unknown flow {flow_name!r}")
    for item in data.get("menu") or ():
        if item.get("command") not in commands:
            loader.err("system.yaml", f"menu entry {item!r} names an unknown command")
    _check_reachable(loader, flows)
    _check_loops(loader, flows, steps)
    answers = _check_variables(loader, flows, texts_src, data)
    if loader.errors:
        problems = list(dict.fromkeys(loader.errors))
        raise FlowError("broken dialog files:\n  " + "\n  ".join(problems))
    return Catalog(
        flows=flows,
        steps=steps,
        texts=texts,
        data=data,
        commands=commands,
        env=loader.env,
        answers=frozenset(answers),
    )


def _parse_branches(loader: _Loader, where: str, flow: str, value: Any) -> tuple[Branch, ...]:
    if value is None:
        return ()
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list):
        loader.err(where, "`next` must be a step id or a list of {if, goto}")
        return ()
    out = []
    for item in items:
        if isinstance(item, str):
            out.append(Branch(_qualify(flow, item)))
        elif isinstance(item, dict) and "goto" in item:
            cond_src = item.get("if")
            cond = loader.expression(where, cond_src) if cond_src else None
            out.append(Branch(_qualify(flow, item["goto"]), cond, cond_src or ""))
        else:
            loader.err(where, f"bad `next` entry {item!r}: use a step id or {{if: ..., goto: ...}}")
    return tuple(out)


def _qualify(flow: str, target: str) -> str:
    target = str(target)
    if target == END or "." in target:
        return target
    return f"{flow}.{target}"


def _parse_actions(loader: _Loader, where: str, value: Any) -> tuple[ActionCall, ...]:
    calls = []
    for item in value or ():
        if isinstance(item, str):
            call = ActionCall(item)
        elif isinstance(item, dict) and len(item) == 1:
            ((name, arg),) = item.items()
            call = ActionCall(name, arg)
        else:
            loader.err(where, f"bad action {item!r}: use a name or {{name: argument}}")
            continue
        if call.name not in loader.actions:
            loader.err(where, f"unknown action {call.name!r}")
        calls.append(call)
    return tuple(calls)


_STEP_KEYS = frozenset(
    {
        "say",
        "ask",
        "options",
        "save_as",
        "prepare",
        "do",
        "next",
        "min",
        "max",
        "form",
        "skip",
        "breathing",
        "options_from",
        "text_as",
    }
)


def _parse_flow(loader: _Loader, name: str, path: Path, doc: dict[str, Any]) -> Flow:
    raw_steps = doc.get("steps")
    if not isinstance(raw_steps, dict) or not raw_steps:
        loader.err(path.name, f"flow {name!r} has no steps")
        raw_steps = {}
    entry = _qualify(name, doc.get("entry", next(iter(raw_steps), "")))
    flow = Flow(
        name=name,
        path=path,
        entry=entry,
        fallback=_qualify(name, doc.get("fallback", entry)),
        command=doc.get("command"),
        needs_episode=bool(doc.get("needs_episode", False)),
        resumable=bool(doc.get("resumable", True)),
        title=str(doc.get("title", name)),
    )
    for sid, raw in raw_steps.items():
        qid = f"{name}.{sid}"
        where = f"{path.name}: step {qid!r}"
        if not isinstance(raw, dict):
            loader.err(where, "a step must be a mapping")
            continue
        for unknown in sorted(set(raw) - _STEP_KEYS):
            loader.err(where, f"unknown key {unknown!r} (known: {', '.join(sorted(_STEP_KEYS))})")
        ask = raw.get("ask", "none")
        if ask not in ASK_KINDS:
            loader.err(where, f"unknown ask {ask!r} (use one of {', '.join(sorted(ASK_KINDS))})")
        step = Step(id=qid, flow=name, ask=ask)
        if "say" in raw:
            step.say = loader.template(where, raw["say"])
            step.say_src = raw["say"] if isinstance(raw["say"], str) else ""
        options = []
        for oid, spec in (raw.get("options") or {}).items():
            spec = {"label": spec} if isinstance(spec, str) else spec
            if not isinstance(spec, dict) or not isinstance(spec.get("label"), str):
                loader.err(where, f"option {oid!r} needs a label")
                continue
            options.append(
                Option(
                    id=str(oid),
                    label=spec["label"],
                    next=_parse_branches(loader, where, name, spec.get("next")),
                    command=spec.get("command"),
                )
            )
        step.options = tuple(options)
        if ask in ("choice", "multi") and not options and not step.options_from:
            loader.err(where, f"ask: {ask} needs options")
        if ask == "none" and any(not o.command and not o.next for o in options):
            loader.err(where, "a step that asks nothing can only offer options with next/command")
        step.save_as = raw.get("save_as")
        step.options_from = raw.get("options_from")
        step.text_as = raw.get("text_as")
        if ask in ("text", "number", "date", "multi") and not step.save_as:
            loader.err(where, f"ask: {ask} needs save_as")
        step.prepare = _parse_actions(loader, where, raw.get("prepare"))
        step.do = _parse_actions(loader, where, raw.get("do"))
        step.next = _parse_branches(loader, where, name, raw.get("next"))
        step.minimum = int(raw.get("min", 1))
        step.maximum = int(raw.get("max", 10))
        step.skip = bool(raw.get("skip", False))
        if "form" in raw:
            form = dict(raw["form"] or {})
            if ask != "text":
                loader.err(where, "form: only fits ask: text")
            form["initial_t"] = loader.template(where, form.get("initial", ""))
            form.setdefault("title", flow.title)
            form.setdefault("label", "Your words")
            step.form = form
        if "breathing" in raw:
            step.breathing = {k: float(v) for k, v in dict(raw["breathing"]).items()}
        flow.steps[qid] = step
    return flow


def _targets(step: Step) -> Iterable[str]:
    for br in step.next:
        yield br.target
    for opt in step.options:
        for br in opt.next:
            yield br.target


def _check_references(loader: _Loader, flows: dict[str, Flow], steps: dict[str, Step]) -> None:
    for flow in flows.values():
        for label, target in (("entry", flow.entry), ("fallback", flow.fallback)):
            if target not in steps:
                loader.err(flow.path.name, f"{label} step {target!r} does not exist")
        for step in flow.steps.values():
            for target in _targets(step):
                if target != END and target not in steps:
                    loader.err(
                        f"{flow.path.name}: step {step.id!r}", f"goes to unknown step {target!r}"
                    )
            if step.ask == "choice":
                for opt in step.options:
                    if not (opt.next or opt.command or step.next):
                        loader.err(
                            f"{flow.path.name}: step {step.id!r}",
                            f"option {opt.id!r} leads nowhere (give it or the step a next)",
                        )


def _check_reachable(loader: _Loader, flows: dict[str, Flow]) -> None:
    """Every step must be reachable from some flow's entry (commands and buttons enter there)."""
    steps = {sid: s for f in flows.values() for sid, s in f.steps.items()}
    seen: set[str] = set()
    todo = [f.entry for f in flows.values()] + [f.fallback for f in flows.values()]
    while todo:
        sid = todo.pop()
        if sid in seen or sid not in steps:
            continue
        seen.add(sid)
        todo.extend(t for t in _targets(steps[sid]) if t != END)
    for sid in sorted(steps.keys() - seen):
        loader.err(f"{flows[steps[sid].flow].path.name}: step {sid!r}", "is unreachable")


def _check_loops(loader: _Loader, flows: dict[str, Flow], steps: dict[str, Step]) -> None:
    """A cycle made only of steps that ask nothing would spin forever without the user."""
    graph = {
        sid: [t for t in _targets(s) if t != END and t in steps and steps[t].ask == "none"]
        for sid, s in steps.items()
        if s.ask == "none" and not s.options
    }
    state: dict[str, int] = {}

    def visit(sid: str, path: list[str]) -> None:
        state[sid] = 1
        for nxt in graph.get(sid, ()):
            if state.get(nxt) == 1:
                cycle = [*path[path.index(nxt) :], nxt] if nxt in path else [sid, nxt]
                loader.err(
                    flows[steps[sid].flow].path.name,
                    "steps loop without waiting for the user: " + " -> ".join(cycle),
                )
            elif nxt not in state:
                visit(nxt, [*path, nxt])
        state[sid] = 2

    for sid in graph:
        if sid not in state:
            visit(sid, [sid])


def _check_variables(
    loader: _Loader,
    flows: dict[str, Flow],
    texts_src: dict[str, tuple[str, Any]],
    data: dict[str, Any],
) -> set[str]:
    answers: set[str] = set(ENGINE_ANSWERS)
    for names in loader.actions.values():
        answers |= names
    for flow in flows.values():
        answers |= {s.save_as for s in flow.steps.values() if s.save_as}
        answers |= {s.text_as for s in flow.steps.values() if s.text_as}
    known = answers | GLOBALS | set(data)
    env = loader.env

    def check(where: str, used: set[str], extra: frozenset[str] = frozenset()) -> None:
        for name in sorted(used - known - extra):
            loader.err(where, f"uses undefined variable {name!r}")

    for key, (where, src) in texts_src.items():
        if isinstance(src, str):
            check(f"{where}: text {key!r}", _variables(env, src), TEXT_VARIABLES.get(key, _NONE))
    for flow in flows.values():
        for step in flow.steps.values():
            where = f"{flow.path.name}: step {step.id!r}"
            used = _variables(env, step.say_src)
            if step.form:
                used |= _variables(env, str(step.form.get("initial", "")))
            for br in (*step.next, *(b for o in step.options for b in o.next)):
                if br.condition_src:
                    used |= _expr_variables(env, br.condition_src)
            check(where, used)
    return answers
