"""The engine: one event in, replies out, the new state committed in between.

A turn loads the user's state, runs the current step of a flow from `dialogs/`, and asks the store
to commit the new state together with the rows the turn wrote. Only then are the replies returned.
Turns for one user run one at a time in this process (a lock per conversation); the store's
version check covers several processes; an event id seen before changes nothing.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import pickle
import re
import time
import traceback
import unicodedata
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from typing import Any

from dateutil import parser as date_parser

from bot.actions import ACTIONS, ActionContext, new_id
from bot.events import Breathing, Choice, FileOut, Form, Incoming, Kind, Reply
from bot.flows import END, Branch, Catalog, FlowError, Step
from bot.logs import new_request_id
from bot.nudges.timing import NudgeSettings, snooze_until, valid_timezone, zone
from bot.ports import (
    Add,
    Change,
    Clock,
    Commit,
    Outcome,
    SetProfile,
    Store,
    StoreUnavailable,
    Write,
)

log = logging.getLogger("rebound.engine")

MAX_TEXT = 4000
MAX_STEPS_PER_TURN = 25
MAX_ATTEMPTS = 4
QUIET_AFTER_CRISIS = timedelta(hours=24)
SNOOZES = ("1h", "evening", "nextday")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u200b-\u200f\u2028-\u202e\ufeff]")
_SKIP = "__skip"


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


def clean_text(text: str) -> str:
    """Drop control and invisible characters, normalise, trim. Newlines and tabs stay."""
    text = unicodedata.normalize("NFC", text.replace("\r\n", "\n"))
    return _CONTROL.sub("", text).strip()


def _norm(text: str) -> str:
    return re.sub(r"[^\w]+", " ", text.casefold()).strip()


@dataclass(slots=True)
class _Turn:
    state: dict[str, Any]
    now: datetime
    replies: list[Reply] = field(default_factory=list)
    writes: list[Write] = field(default_factory=list)
    files: list[FileOut] = field(default_factory=list)
    changed: bool = True
    first_time: bool = False
    platform: str = ""
    safety: str | None = None  # "crisis" or "distress" when this turn answered a screening

    @property
    def data(self) -> dict[str, Any]:
        return self.state.setdefault("data", {})


class Engine:
    def __init__(
        self,
        catalog: Catalog,
        store: Store,
        *,
        clock: Clock | None = None,
        screen: Callable[[str], Any] | None = None,
        cache_size: int = 50_000,
    ) -> None:
        self.catalog = catalog
        self.store = store
        self.clock = clock or SystemClock()
        self.screen = screen
        self._locks: dict[str, list[Any]] = {}  # user -> [lock, users waiting]
        self._cache: OrderedDict[str, tuple[int, dict[str, Any]]] = OrderedDict()
        self._cache_size = cache_size
        self._defaults = dict.fromkeys(catalog.answers)
        self._nudge_words: dict[tuple[str, bool], tuple[str, tuple[str, ...]]] = {}
        if screen is not None:
            missing = {"crisis", "distress"} - catalog.flows.keys()
            if missing:
                raise FlowError(f"safety screening needs the flows {sorted(missing)} in dialogs/")

    # -- the one entry point ------------------------------------------------------------------

    async def handle(self, event: Incoming) -> list[Reply]:
        user = str(event.key)
        rid = new_request_id()
        started = time.perf_counter()
        entry = self._locks.setdefault(user, [asyncio.Lock(), 0])
        entry[1] += 1
        try:
            async with entry[0]:
                replies = await self._handle_locked(user, event)
        finally:
            entry[1] -= 1
            if entry[1] == 0:
                self._locks.pop(user, None)
        if log.isEnabledFor(logging.INFO):
            log.info(
                "turn",
                extra={
                    "request_id": rid,
                    "platform": event.key.platform,
                    "kind": str(event.kind),
                    "replies": len(replies),
                    "ms": round((time.perf_counter() - started) * 1000, 2),
                },
            )
        return replies

    async def _handle_locked(self, user: str, event: Incoming) -> list[Reply]:
        try:
            for _attempt in range(MAX_ATTEMPTS):
                version, stored_state = await self._load(user)
                turn = _Turn(
                    state=_copy(stored_state),
                    now=self.clock.now(),
                    platform=event.key.platform,
                )
                await self._run(user, event, turn)
                if not turn.changed and not turn.writes and event.event_id is None:
                    return self._finish(turn, event)
                outcome = await self.store.commit(
                    Commit(
                        user=user,
                        expected_version=version,
                        state=turn.state,
                        now=turn.now,
                        writes=tuple(turn.writes),
                        event_id=event.event_id,
                    )
                )
                if outcome is Outcome.APPLIED:
                    self._remember(user, version + 1, turn.state)
                    return self._finish(turn, event)
                if outcome is Outcome.DUPLICATE:
                    return []
                self._cache.pop(user, None)  # STALE: another process moved on; run again
            log.warning("turn gave up after %d stale attempts", MAX_ATTEMPTS)
        except StoreUnavailable:
            log.warning("store unavailable during a turn")
            self._cache.pop(user, None)
        except Exception as exc:  # a bug: keep the process and the user's data, say sorry
            # Frames only: an exception's message could quote what the user wrote.
            frames = "".join(traceback.format_tb(exc.__traceback__))
            log.error("turn failed with %s\n%s", type(exc).__name__, frames)
            self._cache.pop(user, None)
        return [Reply(text=self._text("try_again"), private=event.public)]

    async def _load(self, user: str) -> tuple[int, dict[str, Any]]:
        cached = self._cache.get(user)
        if cached is not None:
            self._cache.move_to_end(user)
            return cached
        stored = await self.store.load(user)
        return (stored.version, stored.state) if stored else (0, {})

    def _remember(self, user: str, version: int, state: dict[str, Any]) -> None:
        if state.get("forgotten"):
            self._cache.pop(user, None)
            return
        self._cache[user] = (version, state)
        self._cache.move_to_end(user)
        while len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)

    def _finish(self, turn: _Turn, event: Incoming) -> list[Reply]:
        replies = turn.replies + [Reply(file=f) for f in turn.files]
        if turn.safety == "crisis":
            replies = [replace(r, safety="crisis") for r in replies]
        if event.public:
            replies = [_private(r) for r in replies]
        return replies

    def text(self, key: str, **values: Any) -> str:
        """One of the engine's own sentences from dialogs/system.yaml, for adapters (e.g. the
        "I've answered you privately" notice)."""
        return self._text(key, None, **values)

    async def home(self, key: Any) -> Reply:
        """What a home screen (Slack's App Home) shows: a short summary and the stages to start.
        Reads only; changes nothing."""
        stored = await self.store.load(str(key))
        state = stored.state if stored else {}
        turn = _Turn(state=_copy(state), now=self.clock.now(), platform=key.platform)
        return Reply(text=self._text("home", turn), choices=self._menu())

    # -- a turn -------------------------------------------------------------------------------

    async def _run(self, user: str, event: Incoming, turn: _Turn) -> None:
        state = turn.state
        if state.pop("forgotten", None):
            state.clear()
        turn.first_time = not state.get("seen")
        state["seen"] = True
        if event.tz and event.tz != state.get("platform_tz") and valid_timezone(event.tz):
            state["platform_tz"] = event.tz
        if event.kind is Kind.COMMAND:
            await self._command(user, turn, event.text.strip().lower())
        elif event.kind is Kind.CHOICE:
            await self._choice(user, turn, event.choices)
        elif event.kind is Kind.TIMER:
            await self._offer_timer(user, turn, event.text)
        else:
            await self._text_in(user, turn, event.text, event.answers)
        await self._offer_due_timers(user, turn)

    async def _command(self, user: str, turn: _Turn, name: str) -> None:
        state = turn.state
        paused = state.get("paused")
        if name in ("rebound", "start") and paused and paused.get("step") in self.catalog.steps:
            state.pop("paused")
            state.update(flow=paused["flow"], step=paused["step"], ask=paused["ask"])
            turn.replies.append(Reply(text=self._text("resume", turn)))
            self._reprompt(user, turn)
            return
        current = self.catalog.flows.get(state.get("flow") or "")
        if (
            name in ("rebound", "start")
            and state.get("step") in self.catalog.steps
            and current is not None
            and current.resumable
        ):
            turn.replies.append(Reply(text=self._text("resume", turn)))
            self._reprompt(user, turn)
            return
        if name == "start":
            if not turn.first_time:
                turn.replies.append(Reply(text=self._text("idle", turn), choices=self._menu()))
                return
            name = "rebound"
        flow_name = self.catalog.commands.get(name)
        if flow_name == "crisis":
            await self._crisis(user, turn)
            return
        if flow_name is None:
            turn.changed = False
            turn.replies.append(Reply(text=self._text("unknown_command", turn, command=name)))
            return
        await self._start_flow(user, turn, flow_name)

    async def _start_flow(
        self, user: str, turn: _Turn, flow_name: str, opening: str | None = None
    ) -> None:
        flow = self.catalog.flows[flow_name]
        if flow.needs_episode and not turn.state.get("episode"):
            turn.data.update(after=flow_name, summary=None, opening=None)
            flow = self.catalog.flows[self.catalog.commands["rebound"]]
        elif flow.command == "rebound":
            turn.data.update(after=None, summary=None, opening=opening)
        await self._enter(user, turn, flow.entry)

    async def _choice(self, user: str, turn: _Turn, choice_ids: tuple[str, ...]) -> None:
        if not choice_ids:
            turn.changed = False
            self._reprompt(user, turn, "pick_option")
            return
        first = choice_ids[0]
        if first.startswith("cmd:"):
            await self._command(user, turn, first[4:])
            return
        if first.startswith("timer:"):
            timer_id, _, option = first[6:].partition(":")
            await self._open_timer(user, turn, timer_id, option or None)
            return
        if first.startswith("snooze:"):
            timer_id, _, until = first[7:].partition(":")
            await self._snooze(user, turn, timer_id, until)
            return
        step = self._current(turn)
        step_id, _, _ = first.rpartition(":")
        if step is None or step_id != step.id:
            turn.changed = False
            self._reprompt(user, turn, "stale_choice")
            return
        picked = [c.rpartition(":")[2] for c in choice_ids if c.rpartition(":")[0] == step.id]
        await self._answer(user, turn, step, picked)

    async def _text_in(self, user: str, turn: _Turn, raw: str, answers: str | None = None) -> None:
        text = clean_text(raw)
        if not text:
            turn.changed = False
            self._reprompt(user, turn, "empty")
            return
        # Safety first: even a message that is too long, or a form for an old question, is read.
        if self.screen is not None and await self._screened(user, turn, text[: 4 * MAX_TEXT]):
            return
        if len(text) > MAX_TEXT:
            turn.changed = False
            self._reprompt(user, turn, "too_long", limit=MAX_TEXT, length=len(text))
            return
        if answers and answers != turn.state.get("step"):
            turn.changed = False
            self._reprompt(user, turn, "stale_form")
            return
        step = self._current(turn)
        if step is None:
            if not turn.first_time and len(text.split()) < 4:
                turn.replies.append(Reply(text=self._text("idle", turn), choices=self._menu()))
                return
            # Someone writing out of the blue is most likely telling us about a rejection.
            opening = text if len(text.split()) >= 4 else None
            await self._start_flow(user, turn, self.catalog.commands["rebound"], opening)
            return
        if step.ask in ("choice", "multi", "none") or (step.ask == "number" and not _is_int(text)):
            picked = self._match_options(turn, step, text)
            if picked:
                await self._answer(user, turn, step, picked)
                return
            if step.text_as and len(text.split()) >= 4:  # they told us in their own words
                turn.data[step.text_as] = text
                turn.replies.append(self._render(turn, step))
                return
            turn.changed = False
            hint = "not_a_number" if step.ask == "number" else "pick_option"
            self._reprompt(user, turn, hint, minimum=step.minimum, maximum=step.maximum)
            return
        await self._answer(user, turn, step, text)

    async def _screened(self, user: str, turn: _Turn, text: str) -> bool:
        """Screen free text before any flow sees it. A crisis pauses the flow (it is kept, and
        /rebound resumes it) and answers with care and resources; distress is acknowledged and
        the flow goes on. Only the outcome and the time are stored, never the text."""
        assert self.screen is not None
        verdict = self.screen(text)
        if inspect.isawaitable(verdict):  # a screen that reads off the event loop (bot/app.py)
            verdict = await verdict
        level = str(verdict.level)
        if level not in ("crisis", "distress"):
            return False
        if level == "distress":
            self._safety_event(turn, level)
            note = self._render(turn, self.catalog.steps[self.catalog.flows["distress"].entry])
            turn.replies.append(replace(note, safety="distress"))
            return False
        await self._crisis(user, turn)
        return True

    @staticmethod
    def _safety_event(turn: _Turn, level: str) -> None:
        """Keep the outcome and the time; never the words."""
        turn.writes.append(Add("safety_events", {"id": new_id(), "level": level, "at": turn.now}))
        turn.safety = level

    async def _crisis(self, user: str, turn: _Turn) -> None:
        """The crisis response, for a screened message or for someone who tells us with /crisis
        (or its button) that they are not safe: the current flow is kept aside for /rebound,
        nothing cheerful for a day, care and resources now."""
        self._safety_event(turn, "crisis")
        state = turn.state
        if state.get("step") and state.get("flow") != "crisis" and not state.get("paused"):
            state["paused"] = {"flow": state["flow"], "step": state["step"], "ask": state["ask"]}
        quiet = turn.now + QUIET_AFTER_CRISIS
        state["quiet_until"] = quiet.isoformat()
        turn.writes.append(SetProfile({"quiet_until": quiet}))
        await self._enter(user, turn, self.catalog.flows["crisis"].entry)

    # -- answers ------------------------------------------------------------------------------

    async def _answer(self, user: str, turn: _Turn, step: Step, answer: Any) -> None:
        """Validate and save an answer to the current step, run its actions, move on."""
        option = None
        value: Any = answer
        if isinstance(answer, list) and answer == [_SKIP] and step.skip:
            value = None
        elif step.ask in ("choice", "none"):
            option = self._option(turn, step, answer[0] if isinstance(answer, list) else answer)
            if option is None:
                turn.changed = False
                self._reprompt(user, turn, "stale_choice")
                return
            value = option.id
        elif step.ask == "multi":
            valid = [o for o in answer if self._option(turn, step, o)]
            if not valid:
                turn.changed = False
                self._reprompt(user, turn, "pick_option")
                return
            value = list(dict.fromkeys(valid))
        elif step.ask == "number":
            raw = answer[0] if isinstance(answer, list) else answer
            number = int(raw) if _is_int(str(raw)) else None
            if number is None or not step.minimum <= number <= step.maximum:
                turn.changed = False
                self._reprompt(
                    user, turn, "not_a_number", minimum=step.minimum, maximum=step.maximum
                )
                return
            value = number
        elif step.ask == "date":
            parsed = _parse_date(str(answer), turn.now.date())
            if parsed is None:
                turn.changed = False
                self._reprompt(user, turn, "not_a_date")
                return
            value = parsed.isoformat()
        elif step.ask == "text" and isinstance(answer, list):
            turn.changed = False
            self._reprompt(user, turn, "text_expected")
            return
        if option is not None and option.command:  # a way out, not an answer: save nothing
            await self._command(user, turn, option.command)
            return
        if step.save_as:
            turn.data[step.save_as] = value
        await self._actions(user, turn, step.do)
        branches = option.next if option and option.next else step.next
        await self._enter(user, turn, self._choose(turn, branches))

    def _option(self, turn: _Turn, step: Step, option_id: str) -> Any:
        opt = step.option(option_id)
        if opt is not None:
            return opt
        if option_id == _SKIP and step.skip:
            return None
        if step.ask == "number" and _is_int(option_id):
            return _BareOption(option_id)
        for item in self._dynamic(turn, step):
            if item["id"] == option_id:
                return _BareOption(option_id)
        return None

    def _dynamic(self, turn: _Turn, step: Step) -> list[dict[str, Any]]:
        return list(turn.data.get(step.options_from) or ()) if step.options_from else []

    def _match_options(self, turn: _Turn, step: Step, text: str) -> list[str]:
        """Let people type an option's label (or its id) instead of pressing the button."""
        choices = self._choices(turn, step)
        by_label = {_norm(c.label): c.id.rpartition(":")[2] for c in choices}
        by_id = {_norm(c.id.rpartition(":")[2]): c.id.rpartition(":")[2] for c in choices}
        parts = [text] if step.ask != "multi" else re.split(r"[,;\n]|\band\b", text)
        picked = []
        for part in parts:
            key = _norm(part)
            if not key:
                continue
            hit = by_label.get(key) or by_id.get(key)
            if hit is None:
                hits = [oid for label, oid in by_label.items() if key in label.split()]
                hit = hits[0] if len(hits) == 1 else None
            if hit is None:
                return []
            picked.append(hit)
        if step.ask == "choice" and len(picked) != 1:
            return []
        return picked

    def _choose(self, turn: _Turn, branches: tuple[Branch, ...]) -> str:
        if not branches:
            return END
        ctx = self._context(turn)
        for br in branches:
            if br.condition is None or br.condition(**ctx):
                return br.target
        return END

    async def _actions(self, user: str, turn: _Turn, calls: Any) -> None:
        for call in calls:
            ctx = ActionContext(
                user=user,
                state=turn.state,
                now=turn.now,
                store=self.store,
                content=self.catalog.data,
                arg=call.arg,
                writes=turn.writes,
                files=turn.files,
            )
            await ACTIONS[call.name](ctx)

    # -- moving through steps -----------------------------------------------------------------

    async def _enter(self, user: str, turn: _Turn, target: str) -> None:
        """Go to `target` and keep going through steps that ask nothing, until one waits."""
        for _ in range(MAX_STEPS_PER_TURN):
            if target == END or turn.state.get("forgotten"):
                self._set_step(turn, None)
                return
            step = self.catalog.steps[target]
            await self._actions(user, turn, step.prepare)
            self._set_step(turn, step)
            reply = self._render(turn, step)
            if reply.text or reply.choices or reply.form or reply.breathing:
                turn.replies.append(reply)
            if step.ask != "none":
                return
            await self._actions(user, turn, step.do)
            if step.options:
                if all(o.command for o in step.options):  # commands only: the dialog rests
                    self._set_step(turn, None)
                return
            target = self._choose(turn, step.next)
        raise RuntimeError(f"flow ran {MAX_STEPS_PER_TURN} steps without waiting at {target}")

    def _set_step(self, turn: _Turn, step: Step | None) -> None:
        state = turn.state
        if step is None:
            state["flow"] = state["step"] = state["ask"] = None
            return
        state["flow"], state["step"], state["ask"] = step.flow, step.id, step.ask

    def _current(self, turn: _Turn) -> Step | None:
        """The step waiting for an answer. A step that vanished or changed its kind of question
        since the user saw it (a new release of the dialogs) sends them to the flow's fallback."""
        state = turn.state
        sid = state.get("step")
        if not sid:
            return None
        step = self.catalog.steps.get(sid)
        if step is not None and step.ask == state.get("ask"):
            return step
        flow = self.catalog.flows.get(state.get("flow") or "")
        turn.replies.append(Reply(text=self._text("moved", turn)))
        if flow is None:
            self._set_step(turn, None)
            return None
        fallback = self.catalog.steps[flow.fallback]
        self._set_step(turn, fallback)
        turn.replies.append(self._render(turn, fallback))
        return fallback if fallback.ask != "none" else None

    def _reprompt(self, user: str, turn: _Turn, hint: str | None = None, **extra: Any) -> None:
        """A kind word about what went wrong, then the current question again. Nothing is lost."""
        if hint:
            turn.replies.append(Reply(text=self._text(hint, turn, **extra)))
        step = self._current(turn)
        if step is not None:
            turn.replies.append(self._render(turn, step))
        elif not hint or hint in ("stale_choice", "pick_option"):
            turn.replies.append(Reply(text=self._text("idle", turn), choices=self._menu()))

    # -- timers (a journal reread, a walk check-back) -----------------------------------------

    async def _offer_due_timers(self, user: str, turn: _Turn) -> None:
        due = turn.state.get("next_due")
        if not due or due > turn.now.isoformat() or turn.state.get("forgotten"):
            return
        if turn.safety or (turn.state.get("quiet_until") or "") > turn.now.isoformat():
            return  # nothing cheerful right after a crisis or in a hard moment
        newest: dict[str, Any] = {}  # several of a kind (a long absence): offer the newest
        for timer in await self.store.due_timers(user, turn.now):
            newest[timer.kind] = timer
        for timer in list(newest.values())[-3:]:
            self._offer(turn, timer.id, timer.kind)
        # The next one due: in the store, or booked by this very turn (not committed yet).
        upcoming = [await self.store.next_timer(user, turn.now)]
        upcoming += [
            w.values["due_at"] for w in turn.writes if isinstance(w, Add) and w.table == "timers"
        ]
        soonest = min((d for d in upcoming if d is not None), default=None)
        turn.state["next_due"] = soonest.isoformat() if soonest else None
        turn.changed = True

    async def _offer_timer(self, user: str, turn: _Turn, timer_id: str) -> None:
        row = await self.store.fetch(user, "timers", timer_id)
        if not row or row["status"] not in ("pending",):
            turn.changed = False
            return
        self._offer(turn, row["id"], row["kind"])

    def _offer(self, turn: _Turn, timer_id: str, kind: str) -> None:
        flow = self._timer_flow(kind)
        if flow is None:
            return
        turn.writes.append(Change("timers", timer_id, {"status": "offered"}))
        turn.replies.append(
            Reply(
                text=self._text("timer_offer", turn, timer=kind),
                choices=(
                    Choice(f"timer:{timer_id}", self.catalog.flows[flow].title),
                    Choice("cmd:later", self._text("later", turn)),
                ),
            )
        )

    def _timer_flow(self, kind: str) -> str | None:
        return self.catalog.data.get("timer_flows", {}).get(kind)

    async def _open_timer(
        self, user: str, turn: _Turn, timer_id: str, option: str | None = None
    ) -> None:
        """A nudge's button: open the flow for its kind. A button that already answers the
        flow's first question (a one-tap mood on a check-in) answers it too."""
        row = await self.store.fetch(user, "timers", timer_id)
        flow = self._timer_flow(row["kind"]) if row else None
        if row is None or row["status"] in ("done", "cancelled") or flow is None:
            turn.changed = False
            self._reprompt(user, turn, "stale_choice")
            return
        turn.writes.append(Change("timers", timer_id, {"status": "done"}))
        turn.data.update(row.get("payload") or {})
        entry = self.catalog.steps[self.catalog.flows[flow].entry]
        if option and entry.option(option) is not None:
            await self._actions(user, turn, entry.prepare)
            self._set_step(turn, entry)
            await self._answer(user, turn, entry, [option])
            return
        await self._enter(user, turn, entry.id)

    async def _snooze(self, user: str, turn: _Turn, timer_id: str, until: str) -> None:
        row = await self.store.fetch(user, "timers", timer_id)
        if row is None or row["status"] in ("done", "cancelled") or until not in SNOOZES:
            turn.changed = False
            self._reprompt(user, turn, "stale_choice")
            return
        tz = turn.state.get("tz") or "UTC"
        settings = NudgeSettings.from_dict(turn.state.get("nudges"))
        when = snooze_until(until, turn.now, tz, settings)
        turn.writes.append(
            Change(
                "timers",
                timer_id,
                {"status": "pending", "due_at": when, "lease_until": None, "day_key": None},
            )
        )
        local = when.astimezone(zone(tz))
        turn.replies.append(
            Reply(text=self._text("snoozed", turn, when=local.strftime("%A %H:%M")))
        )

    async def nudge(self, key: Any, due: Any) -> list[Reply]:
        """The message for a due nudge sent by the scheduler: what it is about, a button to
        open it (a check-in's buttons answer its first question in one tap) and snoozes."""
        entry = None
        flow = self._timer_flow(due.kind)
        if flow is not None:
            entry = self.catalog.steps[self.catalog.flows[flow].entry]
        gentle = bool(due.payload.get("gentle"))
        # The words depend only on the kind: render them once, not once per user.
        words = self._nudge_words.get((due.kind, gentle))
        if words is None:
            words = (
                self._text("timer_offer", None, timer=due.kind, gentle=gentle),
                tuple(self._text(f"snooze_{k}") for k in SNOOZES),
            )
            self._nudge_words[(due.kind, gentle)] = words
        text, snoozes = words
        choices: list[Choice] = []
        if due.kind == "checkin" and entry is not None:
            choices = [Choice(f"timer:{due.id}:{o.id}", o.label) for o in entry.options]
        elif flow is not None:
            choices = [Choice(f"timer:{due.id}", self.catalog.flows[flow].title)]
        choices += [
            Choice(f"snooze:{due.id}:{k}", label) for k, label in zip(SNOOZES, snoozes, strict=True)
        ]
        return [Reply(text=text, choices=tuple(choices))]

    # -- rendering ----------------------------------------------------------------------------

    def _context(self, turn: _Turn | None, **extra: Any) -> dict[str, Any]:
        ctx: dict[str, Any] = {**self._defaults, **self.catalog.data}
        now = turn.now if turn else self.clock.now()
        if turn is not None:
            ctx.update(turn.data)
            ctx["first_time"] = turn.first_time
            ctx["platform"] = turn.platform
        ctx["now"], ctx["today"] = now, now.date()
        ctx["label"], ctx["labels"] = self.catalog.label, self.catalog.labels
        ctx.update(extra)
        return ctx

    def _text(self, key: str, turn: _Turn | None = None, **extra: Any) -> str:
        return reflow(self.catalog.texts[key].render(self._context(turn, **extra)))

    def _choices(self, turn: _Turn, step: Step) -> tuple[Choice, ...]:
        if step.ask == "number" and step.maximum - step.minimum <= 10:
            choices = [
                Choice(f"{step.id}:{n}", str(n)) for n in range(step.minimum, step.maximum + 1)
            ]
        else:  # the user's own items first, then the step's fixed options
            choices = [
                Choice(
                    f"cmd:{item['command']}" if item.get("command") else f"{step.id}:{item['id']}",
                    _short(item["label"]),
                )
                for item in self._dynamic(turn, step)
            ]
            choices += [
                Choice(f"cmd:{o.command}" if o.command else f"{step.id}:{o.id}", o.label)
                for o in step.options
            ]
        if step.skip:
            choices.append(Choice(f"{step.id}:{_SKIP}", self._text("skip", turn)))
        return tuple(choices)

    def _render(self, turn: _Turn, step: Step) -> Reply:
        ctx = self._context(turn)
        text = reflow(step.say.render(ctx)) if step.say is not None else ""
        form = None
        if step.form:
            form = Form(
                title=str(step.form["title"]),
                label=str(step.form["label"]),
                submit_id=step.id,
                initial=step.form["initial_t"].render(ctx).strip(),
                max_length=MAX_TEXT,
            )
        breathing = None
        if step.breathing:
            breathing = Breathing(
                count=int(step.breathing.get("count", 10)),
                inhale_seconds=step.breathing.get("inhale", 4.0),
                exhale_seconds=step.breathing.get("exhale", 6.0),
            )
        return Reply(
            text=text,
            choices=self._choices(turn, step),
            multi=step.ask == "multi",
            form=form,
            breathing=breathing,
        )

    def _menu(self) -> tuple[Choice, ...]:
        menu = self.catalog.data.get("menu", [])
        return tuple(Choice(f"cmd:{item['command']}", item["label"]) for item in menu)


@dataclass(frozen=True, slots=True)
class _BareOption:  # a number or a listed item: an answer with no next or command of its own
    id: str
    next: tuple[Branch, ...] = ()
    command: None = None


def _copy(state: dict[str, Any]) -> dict[str, Any]:
    """A private copy of a conversation state (plain JSON-like data) for one turn to change:
    the cached one stays intact if the turn is retried or fails. Pickle is several times
    faster than copy.deepcopy here."""
    return pickle.loads(pickle.dumps(state, pickle.HIGHEST_PROTOCOL))


def _is_int(text: str) -> bool:
    return text.strip().lstrip("+-").isdigit() and len(text.strip()) < 6


_KEEP_LINE = re.compile(r"^(> |- |• |\d+\. )")


def reflow(text: str) -> str:
    """Dialog files wrap lines at 100 columns; chat clients wrap by themselves. Join the lines of
    each paragraph, keeping blank lines, quotes and list items."""
    out: list[str] = []
    for line in text.strip().split("\n"):
        line = line.rstrip()
        if (
            out
            and line
            and out[-1]
            and not _KEEP_LINE.match(line)
            and not _KEEP_LINE.match(out[-1])
        ):
            out[-1] = f"{out[-1]} {line.lstrip()}"
        else:
            out.append(line)
    return "\n".join(out)


def _private(reply: Reply) -> Reply:
    return replace(reply, private=True)


def _short(label: str, limit: int = 70) -> str:
    label = " ".join(str(label).split())
    return label if len(label) <= limit else label[: limit - 1] + "…"


_RELATIVE = re.compile(r"^in\s+(\d{1,3})\s+(day|days|week|weeks|month|months)$")


def _parse_date(text: str, today: date) -> date | None:
    """Understand "15 March", "2027-03-15", "tomorrow", "in 2 weeks". Past dates roll forward."""
    t = _norm(text)
    if t in ("today",):
        return today
    if t == "tomorrow":
        return today + timedelta(days=1)
    if t == "next week":
        return today + timedelta(days=7)
    m = _RELATIVE.match(t)
    if m:
        n, unit = int(m.group(1)), m.group(2)
        days = n * (1 if unit.startswith("day") else 7 if unit.startswith("week") else 30)
        return today + timedelta(days=days)
    try:
        default = datetime(today.year, today.month, today.day)
        parsed = date_parser.parse(text, default=default, dayfirst=True).date()
    except (ValueError, OverflowError):
        return None
    if parsed < today and str(today.year) not in text:
        parsed = parsed.replace(year=parsed.year + 1)
    if parsed < today or parsed > today + timedelta(days=3 * 365):
        return None
    return parsed
