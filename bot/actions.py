"""The few things a flow step can *do* besides talking, named from the dialog files (`do:` and
`prepare:`). An action only reads the turn's context and appends writes; the engine commits them
with the conversation state in one transaction, so a turn either happens whole or not at all.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from typing import Any

from bot.events import FileOut
from bot.nudges.timing import (
    DAY_NAMES,
    EVERY_DAY,
    WEEKDAYS,
    NudgeSettings,
    add_working_days,
    describe_days,
    find_timezone,
    local_date,
    next_daily,
    parse_time,
    zone,
)
from bot.ports import Add, Cancel, Change, Forget, SetProfile, Store, Write
from bot.safety import country_code, emergency_number, helplines_for, international_directory

# Answers that belong to one rejection: a new episode starts without them.
EPISODE_KEYS_KEPT = frozenset({"kind", "summary", "opening", "after"})


def new_id() -> str:
    return uuid.uuid4().hex


@dataclass(slots=True)
class ActionContext:
    user: str
    state: dict[str, Any]  # the conversation state; `data` holds the answers
    now: datetime
    store: Store
    content: Mapping[str, Any] = field(default_factory=dict)  # the dialogs' `data:` sections
    arg: Any = None
    writes: list[Write] = field(default_factory=list)
    files: list[FileOut] = field(default_factory=list)

    @property
    def data(self) -> dict[str, Any]:
        return self.state.setdefault("data", {})

    @property
    def episode(self) -> str | None:
        return self.state.get("episode")

    def schedule(self, kind: str, due_at: datetime, payload: dict[str, Any]) -> None:
        tid = new_id()
        self.writes.append(
            Add(
                "timers",
                {
                    "id": tid,
                    "kind": kind,
                    "due_at": due_at,
                    "payload": payload,
                    "status": "pending",
                },
            )
        )
        due = self.state.get("next_due")
        if due is None or due_at.isoformat() < due:
            self.state["next_due"] = due_at.isoformat()


Action = Callable[[ActionContext], Awaitable[None]]
ACTIONS: dict[str, Action] = {}
ACTION_VARIABLES: dict[str, frozenset[str]] = {}


def action(*provides: str) -> Callable[[Action], Action]:
    def register(fn: Action) -> Action:
        ACTIONS[fn.__name__] = fn
        ACTION_VARIABLES[fn.__name__] = frozenset(provides)
        return fn

    return register


@action("episode_count")
async def open_episode(ctx: ActionContext) -> None:
    eid = new_id()
    kept = {k: v for k, v in ctx.data.items() if k in EPISODE_KEYS_KEPT}
    ctx.state["data"] = kept
    ctx.state["episode"] = eid
    ctx.state["stages"] = ["arrive"]
    tz = ctx.state.get("tz") or "UTC"
    ctx.state["track"] = {"episode": eid, "start": local_date(ctx.now, tz).isoformat()}
    ctx.state["episode_count"] = ctx.state.get("episode_count", 0) + 1
    kept["episode_count"] = ctx.state["episode_count"]
    ctx.writes.append(
        Add(
            "episodes",
            {
                "id": eid,
                "kind": kept.get("kind") or "other",
                "summary": kept.get("summary") or ctx.data.get("opening") or "",
                "opened_at": ctx.now,
                "stages": ["arrive"],
            },
        )
    )


@action()
async def mark_stage(ctx: ActionContext) -> None:
    """Record that the user reached a stage of the journey for this episode."""
    stages = ctx.state.setdefault("stages", [])
    if ctx.arg not in stages:
        stages.append(ctx.arg)
    if ctx.episode:
        values: dict[str, Any] = {"stages": list(stages)}
        if ctx.arg == "credit":
            values["closed_at"] = ctx.now
        ctx.writes.append(Change("episodes", ctx.episode, values))


@action("intensity_before", "intensity_change")
async def record_feeling(ctx: ActionContext) -> None:
    phase = ctx.arg or "start"
    intensity = ctx.data.get("intensity_after" if phase != "start" else "intensity")
    if phase == "start":
        ctx.data["intensity_before"] = intensity
    else:
        before = ctx.data.get("intensity_before")
        ctx.data["intensity_change"] = (
            None if before is None or intensity is None else int(intensity) - int(before)
        )
    ctx.writes.append(
        Add(
            "feelings",
            {
                "id": new_id(),
                "episode_id": ctx.episode,
                "feelings": list(ctx.data.get("feelings") or []),
                "intensity": intensity,
                "phase": phase,
                "at": ctx.now,
            },
        )
    )


@action()
async def save_journal(ctx: ActionContext) -> None:
    """Keep the entry and bring it back the next day for a reread."""
    eid = new_id()
    ctx.writes.append(
        Add(
            "journal_entries",
            {
                "id": eid,
                "episode_id": ctx.episode,
                "text": ctx.data["journal"],
                "created_at": ctx.now,
            },
        )
    )
    ctx.schedule("journal_reread", ctx.now + timedelta(days=1), {"entry_id": eid})


@action()
async def remind_later(ctx: ActionContext) -> None:
    """ "Remind me later": bring the next stage back tomorrow (as a gentle offer, once)."""
    ctx.schedule("stage_reminder", ctx.now + timedelta(days=1), {"stage": ctx.arg or "reflect"})


@action()
async def schedule_walk(ctx: ActionContext) -> None:
    minutes = int(ctx.data.get("walk_minutes") or 20)
    ctx.schedule("walk_checkback", ctx.now + timedelta(minutes=minutes), {})


@action()
async def save_note(ctx: ActionContext) -> None:
    """Keep an answer (facts, possibilities, a draft, an opportunity...) as a note of that kind."""
    value = ctx.data.get(ctx.arg)
    if value in (None, "", []):
        return
    text = value if isinstance(value, str) else json.dumps(value)
    ctx.writes.append(
        Add(
            "notes",
            {
                "id": new_id(),
                "episode_id": ctx.episode,
                "kind": ctx.arg,
                "text": text,
                "created_at": ctx.now,
            },
        )
    )


@action("action_count")
async def add_action_item(ctx: ActionContext) -> None:
    due = ctx.data.get("action_due")
    ctx.writes.append(
        Add(
            "action_items",
            {
                "id": new_id(),
                "episode_id": ctx.episode,
                "text": ctx.data["action_text"],
                "due_on": date.fromisoformat(due) if due else None,
                "created_at": ctx.now,
            },
        )
    )
    ctx.data["action_count"] = int(ctx.data.get("action_count") or 0) + 1
    if due:
        when = datetime.combine(date.fromisoformat(due), datetime.min.time(), UTC)
        ctx.schedule("action_due", when + timedelta(hours=9), {})


@action("challenge_days_total")
async def start_challenge(ctx: ActionContext) -> None:
    days = int(ctx.data["challenge_days"])
    cid = new_id()
    ctx.state["challenge"] = {"id": cid, "days": days, "started": ctx.now.date().isoformat()}
    ctx.data["challenge_days_total"] = days
    ctx.writes.append(Add("challenges", {"id": cid, "days": days, "started_at": ctx.now}))


@action("idea", "challenge_day", "in_challenge")
async def challenge_idea(ctx: ActionContext) -> None:
    """Today's ask idea: a different one each day of the challenge, from dialogs data `ideas`."""
    ideas: list[str] = ctx.content["ideas"]
    challenge = ctx.state.get("challenge")
    ctx.data["in_challenge"] = bool(challenge)
    day = 1
    if challenge:
        day = (ctx.now.date() - date.fromisoformat(challenge["started"])).days + 1
    ctx.data["challenge_day"] = day
    ctx.data["idea"] = ideas[(day - 1) % len(ideas)]


@action("ask_count", "no_count", "yes_count")
async def log_ask(ctx: ActionContext) -> None:
    challenge = ctx.state.get("challenge") or {}
    ctx.writes.append(
        Add(
            "challenge_asks",
            {
                "id": new_id(),
                "challenge_id": challenge.get("id"),
                "ask": ctx.data["ask_text"],
                "answer": ctx.data["ask_answer"],
                "asked_why": ctx.data.get("ask_why") == "yes",
                "at": ctx.now,
            },
        )
    )
    counts = ctx.state.setdefault("asks", {"total": 0, "yes": 0, "no": 0})
    counts["total"] += 1
    if ctx.data["ask_answer"] in ("yes", "no"):
        counts[ctx.data["ask_answer"]] += 1
    ctx.data.update(ask_count=counts["total"], yes_count=counts["yes"], no_count=counts["no"])


@action()
async def save_reread(ctx: ActionContext) -> None:
    entry = ctx.data.get("entry_id")
    if entry:
        ctx.writes.append(
            Change(
                "journal_entries",
                entry,
                {"reread_note": ctx.data.get("reread_note") or "", "reread_at": ctx.now},
            )
        )


@action("entry_text", "entry_date")
async def load_entry(ctx: ActionContext) -> None:
    """Show the journal entry a reread is about (the text lives encrypted in its own row)."""
    row = await ctx.store.fetch(ctx.user, "journal_entries", ctx.data.get("entry_id") or "")
    ctx.data["entry_text"] = row["text"] if row else None
    ctx.data["entry_date"] = row["created_at"][:10] if row else None


@action("recent_entries")
async def list_entries(ctx: ActionContext) -> None:
    rows = await ctx.store.recent(ctx.user, "journal_entries", limit=5)
    ctx.data["recent_entries"] = [
        {"date": r["created_at"][:10], "text": r["text"], "reread": r.get("reread_note") or ""}
        for r in rows
    ]


@action("open_actions")
async def list_actions(ctx: ActionContext) -> None:
    rows = await ctx.store.recent(ctx.user, "action_items", limit=20)
    ctx.data["open_actions"] = [
        {"id": r["id"], "label": r["text"], "due": r.get("due_on") or ""}
        for r in rows
        if not r.get("done_at")
    ][:10]


@action()
async def complete_action(ctx: ActionContext) -> None:
    chosen = ctx.data.get("action_done")
    if chosen:
        ctx.writes.append(Change("action_items", chosen, {"done_at": ctx.now}))


@action()
async def export_data(ctx: ActionContext) -> None:
    data = await ctx.store.export(ctx.user)
    body = json.dumps(data, indent=2, ensure_ascii=False, default=str).encode()
    stamp = ctx.now.strftime("%Y%m%d-%H%M%S")
    ctx.files.append(
        FileOut(name=f"rebound-export-{stamp}.json", data=body, mime="application/json")
    )


@action()
async def forget_user(ctx: ActionContext) -> None:
    ctx.writes.append(Forget())
    ctx.state.clear()
    ctx.state["forgotten"] = True


@action("challenge_length", "challenge_finished")
async def challenge_status(ctx: ActionContext) -> None:
    """How long the user's challenge runs and whether its last day has passed. The length lives
    in the conversation state, so it survives a new episode (which clears the answers)."""
    challenge = ctx.state.get("challenge")
    if not challenge:
        ctx.data.update(challenge_length=None, challenge_finished=False)
        return
    days = int(challenge["days"])
    day = (ctx.now.date() - date.fromisoformat(challenge["started"])).days + 1
    ctx.data.update(challenge_length=days, challenge_finished=day > days)


# -- safety -------------------------------------------------------------------------------------

SAFETY_PLAN = ("plan_warning_signs", "plan_calm", "plan_people", "plan_reasons")


@action("country", "local_lines", "emergency", "directory_url", "directory_name")
async def crisis_resources(ctx: ActionContext) -> None:
    """The lines to offer: the user's local ones where their country is known, always the
    international directory and an emergency number."""
    country = ctx.state.get("country")
    directory = international_directory()
    ctx.data.update(
        country=country,
        local_lines=[
            {"name": h.name, "phone": h.phone, "text": h.text, "url": h.url}
            for h in helplines_for(country)
        ],
        emergency=emergency_number(country) if country else None,
        directory_url=directory.url,
        directory_name=directory.name,
    )


@action("country_ok")
async def set_country(ctx: ActionContext) -> None:
    code = country_code(ctx.data.get("country_input"))
    ctx.data["country_ok"] = code is not None
    if code:
        ctx.state["country"] = code
        ctx.data["country"] = code
        ctx.writes.append(SetProfile({"country": code}))


@action(*SAFETY_PLAN)
async def load_safety_plan(ctx: ActionContext) -> None:
    """The newest version of each part of the user's safety plan (kept as encrypted notes)."""
    rows = await ctx.store.recent(ctx.user, "notes", limit=200)
    for part in SAFETY_PLAN:
        if ctx.data.get(part) is None:
            ctx.data[part] = next((r["text"] for r in rows if r["kind"] == part), None)


# -- nudges -------------------------------------------------------------------------------------

NEXT_STEPS = {
    "feel": "Take a moment with how it feels",
    "reread": "Reread yesterday's journal entry",
    "reflect": "Reflect on what happened",
    "followup": "Check on your feedback request",
    "plan": "Make a plan",
    "opportunities": "Look at other opportunities",
    "actions": "Look at your action items",
    "challenge": "Today's challenge ask",
    "journal": "Write in your journal",
    "practice": "Practise with a scenario",
}
# The short track after a rejection: which step suits which day.
TRACK = (
    (0, "feel"),
    (1, "reread"),
    (2, "reflect"),
    (4, "followup"),
    (7, "plan"),
    (10, "challenge"),
)
STEP_COMMAND = {"reread": "journal", "followup": "reflect", "opportunities": "plan"}


def _nudge_settings(ctx: ActionContext) -> NudgeSettings:
    return NudgeSettings.from_dict(ctx.state.get("nudges"))


def _save_nudges(ctx: ActionContext, settings: NudgeSettings) -> None:
    """Keep the settings (state for the engine, profile for the scheduler) and put the next
    check-in on the calendar, replacing any pending one."""
    ctx.state["nudges"] = settings.to_dict()
    ctx.writes.append(SetProfile({"nudges": settings.to_dict()}))
    ctx.writes.append(Cancel("checkin"))
    tz = ctx.state.get("tz")
    if settings.enabled and tz:
        ctx.schedule("checkin", next_daily(ctx.now, tz, settings), {})


@action(
    "nudges_on",
    "nudge_time",
    "nudge_tz",
    "nudge_days_text",
    "nudge_quiet",
    "nudge_paused_until",
    "nudge_track",
    "nudge_next",
)
async def load_nudges(ctx: ActionContext) -> None:
    s = _nudge_settings(ctx)
    tz = ctx.state.get("tz")
    nxt = None
    if s.enabled and tz:
        nxt = next_daily(ctx.now, tz, s).astimezone(zone(tz)).strftime("%A at %H:%M")
    ctx.data.update(
        nudges_on=s.enabled,
        nudge_time=s.at,
        nudge_tz=tz,
        nudge_days_text=describe_days(s.days),
        nudge_quiet=f"{s.quiet_start}-{s.quiet_end}" if s.quiet_start else None,
        nudge_paused_until=s.paused_until,
        nudge_track=s.track,
        nudge_next=nxt,
    )


@action("tz_ok")
async def set_timezone(ctx: ActionContext) -> None:
    tz = find_timezone(str(ctx.data.get("tz_input") or ""), ctx.now)
    ctx.data["tz_ok"] = tz is not None
    if tz:
        ctx.state["tz"] = tz
        ctx.data["nudge_tz"] = tz
        ctx.writes.append(SetProfile({"timezone": tz}))
        _save_nudges(ctx, _nudge_settings(ctx))


@action("time_ok")
async def set_nudge_time(ctx: ActionContext) -> None:
    at = parse_time(str(ctx.data.get("time_input") or ""))
    ctx.data["time_ok"] = at is not None
    if at:
        _save_nudges(ctx, replace(_nudge_settings(ctx), at=at))


@action()
async def switch_nudges(ctx: ActionContext) -> None:
    """`switch_nudges: on` / `off`."""
    _save_nudges(ctx, replace(_nudge_settings(ctx), enabled=ctx.arg == "on", paused_until=None))


@action()
async def set_nudge_days(ctx: ActionContext) -> None:
    choice = ctx.data.get("days_choice")
    days = {"every": EVERY_DAY, "weekdays": WEEKDAYS}.get(str(choice))
    if days is None:
        picked = ctx.data.get("custom_days") or []
        days = tuple(sorted(DAY_NAMES.index(d) for d in picked if d in DAY_NAMES)) or EVERY_DAY
    _save_nudges(ctx, replace(_nudge_settings(ctx), days=days))


@action("quiet_ok")
async def set_quiet_hours(ctx: ActionContext) -> None:
    """ "22:00-07:00" sets quiet hours; a skipped answer clears them."""
    raw = str(ctx.data.get("quiet_input") or "").replace("to", "-").replace("\u2013", "-")
    parts = [parse_time(p) for p in raw.split("-")] if "-" in raw else []
    ok = not raw.strip() or (len(parts) == 2 and all(parts))
    ctx.data["quiet_ok"] = ok
    if ok:
        start, end = (parts[0], parts[1]) if raw.strip() else (None, None)
        _save_nudges(ctx, replace(_nudge_settings(ctx), quiet_start=start, quiet_end=end))


@action("paused_until")
async def pause_nudges(ctx: ActionContext) -> None:
    """Pause for N days (`pause_days`) or until a date (`pause_date`, "back from holiday")."""
    tz = ctx.state.get("tz") or "UTC"
    if ctx.data.get("pause_date"):
        until = date.fromisoformat(ctx.data["pause_date"])
    else:
        until = local_date(ctx.now, tz) + timedelta(days=int(ctx.data.get("pause_days") or 7))
    ctx.data["paused_until"] = until.isoformat()
    _save_nudges(ctx, replace(_nudge_settings(ctx), paused_until=until.isoformat()))


@action()
async def switch_track(ctx: ActionContext) -> None:
    _save_nudges(ctx, replace(_nudge_settings(ctx), track=ctx.arg == "on"))


@action("next_steps", "next_reason", "track_day", "gentle")
async def next_best_step(ctx: ActionContext) -> None:
    """The single most relevant next step for today's check-in: the rejection track's step for
    today, else an unfinished stage, a due action item, today's challenge ask."""
    ctx.data.setdefault("gentle", False)
    stages = set(ctx.state.get("stages") or ())
    track = ctx.state.get("track")
    tz = ctx.state.get("tz") or "UTC"
    today = local_date(ctx.now, tz)
    step, reason, day = None, None, None
    if track and _nudge_settings(ctx).track:
        day = (today - date.fromisoformat(track["start"])).days
        for start, name in reversed(TRACK):
            if day >= start:
                if name not in stages or name in ("reread", "followup", "challenge"):
                    step, reason = name, f"track_{name}"
                break
    if step is None and ctx.episode and "credit" not in stages:
        step = next((s for s in ("feel", "reflect", "plan") if s not in stages), None)
        reason = "unfinished" if step else None
    if step is None:
        rows = await ctx.store.recent(ctx.user, "action_items", limit=50)
        if any(
            r.get("due_on") and not r.get("done_at") and r["due_on"] <= today.isoformat()
            for r in rows
        ):
            step, reason = "actions", "due_actions"
    if step is None and ctx.state.get("challenge"):
        step, reason = "challenge", "challenge_day"
    if step is None:
        step, reason = "journal", "nothing_due"
    ctx.data["track_day"] = day
    ctx.data["next_reason"] = reason
    command = STEP_COMMAND.get(step, step)
    ctx.data["next_steps"] = [{"id": step, "label": NEXT_STEPS[step], "command": command}]


@action()
async def record_mood(ctx: ActionContext) -> None:
    intensity = {"good": 2, "okay": 4, "low": 6, "rough": 8}.get(str(ctx.data.get("mood")))
    ctx.writes.append(
        Add(
            "feelings",
            {
                "id": new_id(),
                "episode_id": ctx.episode,
                "feelings": [ctx.data.get("mood")],
                "intensity": intensity,
                "phase": "checkin",
                "at": ctx.now,
            },
        )
    )


@action()
async def end_track(ctx: ActionContext) -> None:
    """Good news ("I got it after all!") ends the rejection's track."""
    ctx.state.pop("track", None)


@action("followup_when")
async def schedule_followup(ctx: ActionContext) -> None:
    """Come back after the working days the user chose to ask whether a reply came."""
    tz = ctx.state.get("tz") or "UTC"
    days = int(ctx.data.get("followup_days") or 5)
    settings = _nudge_settings(ctx)
    if not ctx.state.get("tz"):
        settings = replace(settings, at="10:00")
    when = add_working_days(ctx.now, days, tz, settings)
    ctx.data["followup_when"] = when.astimezone(zone(tz)).strftime("%A %d %B")
    ctx.schedule("feedback_followup", when, {})
