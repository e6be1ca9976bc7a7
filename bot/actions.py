"""The few things a flow step can *do* besides talking, named from the dialog files (`do:` and
`prepare:`). An action only reads the turn's context and appends writes; the engine commits them
with the conversation state in one transaction, so a turn either happens whole or not at all.
"""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from typing import Any

from bot import charts, export, progress, retention
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

    def schedule(self, kind: str, due_at: datetime, payload: dict[str, Any]) -> str:
        """Book a timer (a nudge, or an offer on the user's next visit); returns its id."""
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
        return tid


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


@action()
async def complete_action(ctx: ActionContext) -> None:
    chosen = ctx.data.get("action_done")
    if chosen:
        ctx.writes.append(Change("action_items", chosen, {"done_at": ctx.now}))


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
    "platform_tz",
)
async def load_nudges(ctx: ActionContext) -> None:
    s = _nudge_settings(ctx)
    tz = ctx.state.get("tz")
    nxt = None
    if s.enabled and tz:
        nxt = next_daily(ctx.now, tz, s).astimezone(zone(tz)).strftime("%A at %H:%M")
    ctx.data.update(
        platform_tz=ctx.state.get("platform_tz"),
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


@action()
async def use_platform_timezone(ctx: ActionContext) -> None:
    """The user confirmed the time zone from their platform profile."""
    tz = ctx.state.get("platform_tz")
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


# -- progress, the sting curve, the "why" ledger, resilience check-ins, journal and action-item
#    edits, export and retention (issue 7). The logic lives in bot/progress.py, bot/export.py
#    and bot/retention.py; these stay thin.

_log = logging.getLogger("rebound.actions")

REASON_NOTE = progress.REASON_NOTE  # replies to a feedback request (dialogs/followup, /why)
BRS_EVERY = timedelta(weeks=4)
BRS_FIRST_OFFER = timedelta(hours=1)  # after the first journey's credit, on the next visit
PROGRESS_ROWS = {
    "episodes": 200,
    "feelings": 2000,
    "action_items": 500,
    "challenge_asks": 2000,
    "notes": 500,
    "checkins": 100,
}


def _sting_row(ctx: ActionContext, episode: str | None, rating: Any, phase: str) -> Add:
    return Add(
        "feelings",
        {
            "id": new_id(),
            "episode_id": episode,
            "feelings": [],
            "intensity": int(rating),
            "phase": phase,
            "at": ctx.now,
        },
    )


@action("last_sting")
async def sting_history(ctx: ActionContext) -> None:
    """How the last rejection's sting went ("8 fell to 3 within a week"), shown at the next."""
    rows = await ctx.store.recent(ctx.user, "feelings", limit=PROGRESS_ROWS["feelings"])
    ctx.data["last_sting"] = progress.last_sting(rows, exclude=ctx.episode)


@action()
async def record_sting(ctx: ActionContext) -> None:
    """The sting rating (0-10) as the rejection is logged, and the re-asks on day 1, 7, 30."""
    rating = ctx.data.get("sting")
    if rating is None or not ctx.episode:
        return
    ctx.writes.append(_sting_row(ctx, ctx.episode, rating, progress.STING_PHASE))
    old = (ctx.now - timedelta(days=45)).isoformat()  # long past and never answered: let go
    checks = [c for c in ctx.state.get("sting_checks") or [] if c["due"] > old]
    ctx.state["sting_checks"] = checks
    for day in progress.STING_DAYS:
        due = ctx.now + timedelta(days=day)
        payload = {"sting_episode": ctx.episode, "sting_day": day, "sting_start": int(rating)}
        tid = ctx.schedule("sting_check", due, payload)
        checks.append({"id": tid, "episode": ctx.episode, "due": due.isoformat()})


@action("sting_episode", "sting_day", "sting_start", "sting_about", "sting_elapsed")
async def sting_context(ctx: ActionContext) -> None:
    """For a sting re-ask (its timer's payload is in the answers): which rejection, and when."""
    episode = ctx.data.get("sting_episode")
    row = await ctx.store.fetch(ctx.user, "episodes", str(episode or ""))
    ctx.data.setdefault("sting_day", None)
    ctx.data.setdefault("sting_start", None)
    ctx.data["sting_about"] = (row.get("summary") or None) if row else None
    elapsed = None
    if row:
        elapsed = (ctx.now - progress.when(row["opened_at"])).days
    ctx.data["sting_elapsed"] = elapsed if elapsed is not None else ctx.data.get("sting_day")


@action("sting_change")
async def record_sting_check(ctx: ActionContext) -> None:
    """Keep a re-ask's rating. Other re-asks for the same rejection that are already due are
    settled too: after a long absence one question is enough, and today's number is the news."""
    episode = ctx.data.get("sting_episode")
    rating = ctx.data.get("sting_now")
    now = ctx.now.isoformat()
    keep = []
    for check in ctx.state.get("sting_checks") or []:
        if check["episode"] == episode and check["due"] <= now:
            ctx.writes.append(Change("timers", check["id"], {"status": "done"}))
        else:
            keep.append(check)
    ctx.state["sting_checks"] = keep
    start = ctx.data.get("sting_start")
    ctx.data["sting_change"] = None
    if rating is None or not episode:
        return
    ctx.writes.append(_sting_row(ctx, episode, rating, f"sting_day{ctx.data.get('sting_day')}"))
    if start is not None:
        ctx.data["sting_change"] = int(rating) - int(start)


@action("progress", "chart_status")
async def progress_report(ctx: ActionContext) -> None:
    """Everything /progress shows, and its chart as an image (when matplotlib is installed)."""
    rows = {
        table: await ctx.store.recent(ctx.user, table, limit=limit)
        for table, limit in PROGRESS_ROWS.items()
    }
    report = progress.build_report(
        episodes=rows["episodes"],
        feelings=rows["feelings"],
        action_items=rows["action_items"],
        asks=rows["challenge_asks"],
        notes=rows["notes"],
        checkins=rows["checkins"],
        now=ctx.now,
        tz=zone(ctx.state.get("tz") or "UTC"),
        suggestions=ctx.content.get("why_suggestions") or (),
        reason_kind=REASON_NOTE,
    )
    ctx.data["progress"] = report
    status = "none"
    if not report["empty"] and charts.has_data(report["chart"]):
        try:  # drawing takes a moment: off the event loop, so other users are not held up
            png = await asyncio.to_thread(charts.render_progress_chart, report["chart"])
        except charts.ChartsUnavailable:
            status = "missing"
        except Exception as exc:  # the numbers still go out; the picture is a bonus
            _log.warning("progress chart failed: %s", type(exc).__name__)
            status = "failed"
        else:
            ctx.files.append(
                FileOut(
                    name=f"rebound-progress-{ctx.now:%Y%m%d-%H%M%S}.png",
                    data=png,
                    mime="image/png",
                    is_image=True,
                    alt=charts.alt_text(report["chart"]),
                )
            )
            status = "sent"
    ctx.data["chart_status"] = status


@action()
async def clear_progress(ctx: ActionContext) -> None:
    """The report has been shown: keep the conversation state small (and free of it)."""
    ctx.data.update(progress=None, chart_status=None, ledger=None)


@action("ledger")
async def why_report(ctx: ActionContext) -> None:
    """The reasons the other side gave, grouped: "3 of your last 5 mentioned experience"."""
    asks = await ctx.store.recent(ctx.user, "challenge_asks", limit=PROGRESS_ROWS["challenge_asks"])
    notes = await ctx.store.recent(ctx.user, "notes", limit=PROGRESS_ROWS["notes"])
    ledger = progress.why_ledger(progress.reasons(asks, notes, note_kind=REASON_NOTE))
    ledger["suggestion"] = progress.suggestion(
        ledger["themes"], ctx.content.get("why_suggestions") or ()
    )
    ctx.data["ledger"] = ledger


@action("ask_count", "no_count", "yes_count")
async def log_ask_with_reason(ctx: ActionContext) -> None:
    """`log_ask`, keeping the reason they gave when the user asked "why?" (`ask_reason`)."""
    await log_ask(ctx)
    row = ctx.writes[-1]
    reason = ctx.data.get("ask_reason")
    if reason and isinstance(row, Add) and row.table == "challenge_asks":
        ctx.writes[-1] = Add(row.table, {**row.values, "why": reason})


# Resilience check-ins (the Brief Resilience Scale; items in dialogs/resilience.yaml).


def _next_checkin(ctx: ActionContext, after: timedelta) -> None:
    due = ctx.now + after
    ctx.writes.append(Cancel("brs_checkin"))
    ctx.schedule("brs_checkin", due, {})
    ctx.state["resilience"] = {
        **(ctx.state.get("resilience") or {}),
        "offered": True,
        "next": due.isoformat(),
    }


@action()
async def offer_checkin(ctx: ActionContext) -> None:
    """At the end of the first journey, offer the (opt-in) check-in on the next visit. Later
    journeys offer it again only if the last offer went by unanswered four weeks ago."""
    seen = ctx.state.get("resilience") or {}
    if seen.get("off"):
        return
    lapsed = seen.get("next") and seen["next"] <= (ctx.now - BRS_EVERY).isoformat()
    if not seen.get("offered") or lapsed:
        _next_checkin(ctx, BRS_FIRST_OFFER)


@action("checkin_last", "checkin_count")
async def checkin_history(ctx: ActionContext) -> None:
    trend = progress.brs_trend(await ctx.store.recent(ctx.user, "checkins", limit=100))
    ctx.data.update(checkin_last=trend[-1] if trend else None, checkin_count=len(trend))


@action("checkin_score", "checkin_band", "checkin_prev")
async def save_checkin(ctx: ActionContext) -> None:
    """Score the six answers, keep them (encrypted), and offer the next one in four weeks."""
    answers = [int(ctx.data[f"brs_{i}"]) for i in range(1, progress.BRS_ITEMS + 1)]
    score = progress.brs_score(answers)
    ctx.writes.append(
        Add(
            "checkins",
            {"id": new_id(), "scale": "brs", "answers": json.dumps(answers), "at": ctx.now},
        )
    )
    last = ctx.data.get("checkin_last")
    ctx.data.update(
        checkin_score=score,
        checkin_band=progress.brs_band(score),
        checkin_prev=last["score"] if last else None,
        **{f"brs_{i}": None for i in range(1, progress.BRS_ITEMS + 1)},
    )
    _next_checkin(ctx, BRS_EVERY)


@action()
async def checkin_later(ctx: ActionContext) -> None:
    _next_checkin(ctx, BRS_EVERY)


@action()
async def checkin_stop(ctx: ActionContext) -> None:
    ctx.writes.append(Cancel("brs_checkin"))
    ctx.state["resilience"] = {**(ctx.state.get("resilience") or {}), "offered": True, "off": True}


# /journal: open an entry, edit it, add a reread note.


@action("recent_entries", "journal_choices")
async def list_journal(ctx: ActionContext) -> None:
    rows = await ctx.store.recent(ctx.user, "journal_entries", limit=5)
    ctx.data["recent_entries"] = [
        {
            "id": r["id"],
            "date": r["created_at"][:10],
            "text": r["text"],
            "reread": r.get("reread_note") or "",
        }
        for r in rows
    ]
    ctx.data["journal_choices"] = [
        {"id": r["id"], "label": f"{r['created_at'][:10]}: {' '.join(r['text'].split())}"}
        for r in rows
    ]


@action("entry_id", "entry_text", "entry_date", "entry_reread", "entry_reread_date")
async def open_entry(ctx: ActionContext) -> None:
    row = await ctx.store.fetch(ctx.user, "journal_entries", str(ctx.data.get("journal_pick")))
    ctx.data.update(
        entry_id=row["id"] if row else None,
        entry_text=row["text"] if row else None,
        entry_date=row["created_at"][:10] if row else None,
        entry_reread=(row.get("reread_note") or None) if row else None,
        entry_reread_date=((row.get("reread_at") or "")[:10] or None) if row else None,
        journal_choices=None,
        recent_entries=None,
    )


@action()
async def edit_entry(ctx: ActionContext) -> None:
    entry, text = ctx.data.get("entry_id"), ctx.data.get("entry_new_text")
    if entry and text:
        ctx.writes.append(Change("journal_entries", entry, {"text": text}))
        ctx.data.update(entry_text=text, entry_new_text=None)


@action()
async def save_entry_note(ctx: ActionContext) -> None:
    entry, note = ctx.data.get("entry_id"), ctx.data.get("entry_note")
    if entry and note:
        ctx.writes.append(
            Change("journal_entries", entry, {"reread_note": note, "reread_at": ctx.now})
        )
        ctx.data.update(
            entry_reread=note, entry_reread_date=ctx.now.date().isoformat(), entry_note=None
        )


# /actions: edit or drop an item (done is `complete_action`).


@action("open_actions")
async def list_open_actions(ctx: ActionContext) -> None:
    """Open items only: neither done nor dropped."""
    rows = await ctx.store.recent(ctx.user, "action_items", limit=100)
    ctx.data["open_actions"] = [
        {"id": r["id"], "label": r["text"], "due": r.get("due_on") or ""}
        for r in rows
        if not r.get("done_at") and not r.get("dropped_at")
    ][:10]


@action("action_pick_label", "action_pick_due")
async def pick_action(ctx: ActionContext) -> None:
    row = await ctx.store.fetch(ctx.user, "action_items", str(ctx.data.get("action_pick")))
    usable = row is not None and not row.get("done_at") and not row.get("dropped_at")
    ctx.data.update(
        action_pick_label=row["text"] if usable and row else None,
        action_pick_due=(row.get("due_on") or None) if usable and row else None,
    )


@action()
async def edit_action(ctx: ActionContext) -> None:
    item, text = ctx.data.get("action_pick"), ctx.data.get("action_new_text")
    if item and text:
        ctx.writes.append(Change("action_items", item, {"text": text}))
        ctx.data.update(action_pick_label=text, action_new_text=None)


@action()
async def redate_action(ctx: ActionContext) -> None:
    item, due = ctx.data.get("action_pick"), ctx.data.get("action_new_due")
    if not item:
        return
    day = date.fromisoformat(due) if due else None
    ctx.writes.append(Change("action_items", item, {"due_on": day}))
    ctx.data["action_pick_due"] = due
    if day:
        when = datetime.combine(day, datetime.min.time(), UTC) + timedelta(hours=9)
        ctx.schedule("action_due", when, {})


@action()
async def drop_action(ctx: ActionContext) -> None:
    item = ctx.data.get("action_pick")
    if item:
        ctx.writes.append(Change("action_items", item, {"dropped_at": ctx.now}))


# /export and /retention.


@action()
async def export_files(ctx: ActionContext) -> None:
    """Everything stored about the user: a JSON file and a readable Markdown file."""
    data = await ctx.store.export(ctx.user)
    json_name, md_name = export.file_names(data)
    ctx.files.append(FileOut(name=json_name, data=export.to_json(data), mime=export.JSON_MIME))
    ctx.files.append(
        FileOut(name=md_name, data=export.to_markdown(data).encode(), mime=export.MARKDOWN_MIME)
    )


@action("retention_days")
async def load_retention(ctx: ActionContext) -> None:
    profile = await ctx.store.recent(ctx.user, "users", limit=1)
    ctx.data["retention_days"] = profile[0].get("retention_days") if profile else None


@action("retention_days")
async def set_retention(ctx: ActionContext) -> None:
    """Keep the choice in the profile, where the scheduler's purge finds it."""
    choice = ctx.data.get("retention_choice")
    if choice not in ("off", *map(str, retention.CHOICES)):
        return  # "leave it as it is"
    days = retention.valid_days(choice)
    ctx.writes.append(SetProfile({"retention_days": days}))
    ctx.data["retention_days"] = days
