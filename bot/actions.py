"""The few things a flow step can *do* besides talking, named from the dialog files (`do:` and
`prepare:`). An action only reads the turn's context and appends writes; the engine commits them
with the conversation state in one transaction, so a turn either happens whole or not at all.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from bot.events import FileOut
from bot.ports import Add, Change, Forget, SetProfile, Store, Write
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
