"""Progress you can see: the figures computed from a known history, the chart, the Brief
Resilience Scale, and /progress, the sting curve, /journal, /actions, /why and the resilience
check-in as conversations through the real engine."""

from __future__ import annotations

import json
import logging
import os
import struct
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot import actions, charts, progress
from bot.flows import Catalog
from bot.ports import Add
from bot.store import SqlStore
from bot.testing import FakeChat, FakeClock

ROOT = Path(__file__).resolve().parent.parent
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)  # a Monday


@pytest.fixture(autouse=True)
def no_failed_turns(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    """A broken template or action makes the engine apologise and log; none may happen here."""
    caplog.set_level(logging.WARNING, logger="rebound")
    yield
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING] == []


def at(days: float) -> str:
    return (T0 + timedelta(days=days)).isoformat()


def said(chat: FakeChat) -> str:
    return " ".join(chat.text().split())


async def exported(store: SqlStore, chat: FakeChat) -> dict[str, Any]:
    return await store.export(str(chat.key))


# -- a known history ------------------------------------------------------------------------------

EPISODES = [
    {"id": "e1", "kind": "job", "opened_at": at(0), "closed_at": at(3),
     "stages": ["arrive", "plan", "feel", "reflect", "credit"]},
    {"id": "e2", "kind": "pitch", "opened_at": at(20), "closed_at": None,
     "stages": ["arrive", "feel"]},
]  # fmt: skip
FEELINGS = [
    {"episode_id": "e1", "intensity": 8, "phase": "start", "at": at(0.01)},
    {"episode_id": "e1", "intensity": 6, "phase": "after_breathing", "at": at(0.02)},
    {"episode_id": "e1", "intensity": 7, "phase": "after_walk", "at": at(0.5)},
    {"episode_id": "e2", "intensity": 5, "phase": "start", "at": at(20.01)},
    {"episode_id": "e1", "intensity": 8, "phase": "sting", "at": at(0)},
    {"episode_id": "e1", "intensity": 6, "phase": "sting_day1", "at": at(1)},
    {"episode_id": "e1", "intensity": 3, "phase": "sting_day7", "at": at(7)},
    {"episode_id": "e1", "intensity": 2, "phase": "sting_day30", "at": at(30.2)},
    {"episode_id": "e2", "intensity": 6, "phase": "sting", "at": at(20)},
]
ACTIONS = [
    {"text": "a", "due_on": "2026-03-10", "done_at": at(5), "dropped_at": None},
    {"text": "b", "due_on": "2026-03-20", "done_at": None, "dropped_at": None},
    {"text": "c", "due_on": None, "done_at": None, "dropped_at": None},
    {"text": "d", "due_on": None, "done_at": None, "dropped_at": at(6)},
]


def asks(*days_and_answers: tuple[float, str]) -> list[dict[str, Any]]:
    return [
        {"answer": answer, "asked_why": answer != "yes", "why": None, "at": at(day)}
        for day, answer in days_and_answers
    ]


def test_episodes_count_those_worked_through_and_list_stages_in_journey_order() -> None:
    summary = progress.episodes_summary(EPISODES)
    assert (summary["total"], summary["closed"]) == (2, 1)
    assert summary["recent"] == [
        {"kind": "pitch", "opened": "2026-03-22", "stages": ["arrive", "feel"], "closed": False},
        {
            "kind": "job",
            "opened": "2026-03-02",
            "stages": ["arrive", "feel", "reflect", "plan", "credit"],
            "closed": True,
        },
    ]


def test_feeling_intensity_trend_compares_the_moments_a_feeling_was_named() -> None:
    trend = progress.intensity_trend(FEELINGS)
    assert trend == {
        "count": 4,  # sting ratings are their own series
        "first": 8,
        "latest": 5,
        "first_date": "2026-03-02",
        "latest_date": "2026-03-22",
        "direction": "down",
        "coping_tries": 2,
        "coping_helped": 1,  # breathing 8 -> 6 helped; the walk after it (6 -> 7) did not
    }
    assert progress.intensity_trend(FEELINGS[:1])["direction"] is None  # one rating: no trend


def test_action_items_open_done_dropped_and_overdue() -> None:
    today = date(2026, 3, 25)
    assert progress.action_counts(ACTIONS, today) == {
        "open": 2,
        "done": 1,
        "dropped": 1,
        "overdue": 1,
    }


def test_yes_rate_with_no_asks_is_none_not_zero() -> None:
    stats = progress.challenge_stats([], date(2026, 3, 2))
    assert (stats["total"], stats["yes_rate"], stats["streak"]) == (0, None, 0)


def test_yes_rate_and_answers() -> None:
    stats = progress.challenge_stats(
        asks((0, "yes"), (0, "no"), (1, "partial"), (2, "no")), date(2026, 3, 4)
    )
    assert (stats["total"], stats["yes"], stats["no"], stats["partial"]) == (4, 1, 2, 1)
    assert (stats["yes_rate"], stats["asked_why"]) == (25, 3)


def days(*offsets: int) -> list[date]:
    return [date(2026, 3, 2) + timedelta(days=d) for d in offsets]


def test_a_streak_survives_one_missed_day() -> None:
    # Mon, Tue, (Wed missed), Thu, Fri; today is Friday.
    streak = progress.current_streak(days(0, 1, 3, 4), date(2026, 3, 6))
    assert streak == progress.Streak(days=5, active=4, forgiven=1, last=date(2026, 3, 6))


def test_today_without_an_ask_yet_is_not_a_missed_day() -> None:
    streak = progress.current_streak(days(0, 1, 2), date(2026, 3, 5))
    assert (streak.days, streak.forgiven) == (3, 0)


def test_two_missed_days_in_a_row_break_the_streak() -> None:
    assert progress.current_streak(days(0, 1, 2), date(2026, 3, 7)).days == 0
    streak = progress.current_streak(days(0, 1, 4, 5), date(2026, 3, 7))
    assert (streak.days, streak.active, streak.forgiven) == (2, 2, 0)


def test_a_second_missed_day_within_seven_breaks_it_but_not_a_week_later() -> None:
    # Days 0-6 with misses on 2 and 4: the miss on 4 is forgiven, the one on 2 is not.
    streak = progress.current_streak(days(0, 1, 3, 5, 6), date(2026, 3, 8))
    assert (streak.days, streak.active, streak.forgiven) == (4, 3, 1)
    # Misses seven days apart (days 2 and 9) are both forgiven.
    streak = progress.current_streak(days(0, 1, 3, 4, 5, 6, 7, 8, 10), date(2026, 3, 12))
    assert (streak.days, streak.active, streak.forgiven) == (11, 9, 2)


def test_asks_per_week_include_empty_weeks() -> None:
    weeks = progress.asks_per_week(
        asks((0, "yes"), (1, "no"), (2, "no"), (15, "partial")), date(2026, 3, 20)
    )
    assert weeks == [
        ["2026-03-02", 1, 0, 2],
        ["2026-03-09", 0, 0, 0],
        ["2026-03-16", 0, 1, 0],
    ]


def test_the_sting_curve_of_the_last_rejection() -> None:
    summary = progress.last_sting(FEELINGS)
    # e2 is newer but has one rating only: one number is not a curve, so e1 is "last time".
    assert summary == {
        "start": 8,
        "week": 3,
        "week_days": 7,
        "end": 2,
        "days": 30,
        "direction": "down",
    }
    assert progress.last_sting(FEELINGS, exclude="e1") is None
    assert progress.sting_start(FEELINGS, "e2") == 6


REASONS = [
    "They wanted more experience with Angular.",
    "The budget for the role was frozen.",
    "We went with someone who has Angular experience.",
    "Not enough leadership experience yet.",
    "Experience with Angular was the deciding factor.",
]


def reason_rows(texts: list[str]) -> list[dict[str, Any]]:
    return [{"at": T0 + timedelta(days=i), "text": t, "source": "x"} for i, t in enumerate(texts)]


def test_the_why_ledger_groups_shared_words_over_the_last_five(catalog: Catalog) -> None:
    ledger = progress.why_ledger(reason_rows(REASONS))
    assert ledger["considered"] == 5
    assert ledger["themes"][0] == {"words": ["experience"], "keys": ["experience"], "count": 4}
    assert ledger["themes"][1] == {"words": ["Angular"], "keys": ["angular"], "count": 3}
    table = catalog.data["why_suggestions"]
    assert "course" in progress.suggestion(ledger["themes"], table)
    # Only the newest five count; words said once are no pattern.
    older = progress.why_ledger(reason_rows(["Budget again.", "Budget cuts.", *REASONS]))
    assert (older["total"], older["considered"]) == (7, 5)
    assert [t["words"] for t in older["themes"]] == [["experience"], ["Angular"]]
    assert progress.why_ledger(reason_rows(["Too late.", "No budget."]))["themes"] == []


def test_words_found_in_exactly_the_same_reasons_are_one_theme() -> None:
    ledger = progress.why_ledger(
        reason_rows(["Need SQL skills.", "Timing.", "More SQL skills please.", "SQL skills."])
    )
    assert ledger["themes"] == [{"words": ["SQL", "skills"], "keys": ["sql", "skill"], "count": 3}]


def test_reasons_come_from_asks_where_they_asked_why_and_from_feedback_replies() -> None:
    rows = progress.reasons(
        [
            {"asked_why": True, "why": "No budget", "at": at(1)},
            {"asked_why": False, "why": None, "at": at(2)},
            {"asked_why": True, "why": "", "at": at(3)},
        ],
        [
            {"kind": "feedback_reply", "text": "More experience", "created_at": at(0)},
            {"kind": "facts", "text": "Not a reason", "created_at": at(0)},
        ],
    )
    assert [(r["text"], r["source"]) for r in rows] == [
        ("More experience", "feedback"),
        ("No budget", "challenge"),
    ]


def test_the_read_of_the_trend_only_names_what_the_data_shows() -> None:
    now = T0 + timedelta(days=31)
    report = progress.build_report(
        episodes=EPISODES,
        feelings=FEELINGS,
        action_items=ACTIONS,
        asks=asks((30, "no"), (31, "yes")),
        now=now,
    )
    assert report["highlights"] == ["sting_fell", "intensity_down"]
    assert report["challenge"]["streak"] == 2
    empty = progress.build_report(now=now)
    assert empty["empty"] is True
    assert empty["highlights"] == []
    rising = progress.build_report(
        feelings=[
            {"episode_id": "a", "intensity": 3, "phase": "start", "at": at(0)},
            {"episode_id": "b", "intensity": 7, "phase": "start", "at": at(9)},
        ],
        now=now,
    )
    assert rising["feelings"]["direction"] == "up"
    assert rising["highlights"] == []
    json.dumps(report)  # plain data: it may sit in the conversation state for one turn


# -- the Brief Resilience Scale -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("answers", "score"),
    [
        ([3, 3, 3, 3, 3, 3], 3.0),
        ([5, 1, 5, 1, 5, 1], 5.0),  # agrees with 1, 3, 5 and disagrees with 2, 4, 6: top score
        ([1, 5, 1, 5, 1, 5], 1.0),
        ([5, 5, 5, 5, 5, 5], 3.0),  # reversing 2, 4 and 6 pulls the mean to the middle
        ([4, 2, 3, 3, 4, 1], 3.83),  # (4 + 4 + 3 + 3 + 4 + 5) / 6
        (["4", "2", "4", "2", "4", "2"], 4.0),  # answers arrive as option ids
    ],
)
def test_brs_score_reverses_items_two_four_and_six(answers: list[Any], score: float) -> None:
    assert progress.brs_score(answers) == score


@pytest.mark.parametrize(
    ("score", "band"),
    [
        (1.0, "low"),
        (2.99, "low"),
        (3.0, "normal"),
        (4.3, "normal"),
        (4.31, "high"),
        (5.0, "high"),
    ],
)
def test_brs_bands_at_their_edges(score: float, band: str) -> None:
    assert progress.brs_band(score) == band


def test_brs_rejects_what_is_not_a_six_item_answer_sheet() -> None:
    with pytest.raises(ValueError):
        progress.brs_score([3, 3, 3, 3, 3])
    with pytest.raises(ValueError):
        progress.brs_score([3, 3, 3, 3, 3, 6])
    with pytest.raises(ValueError):
        progress.brs_band(0.5)


@given(st.lists(st.integers(min_value=1, max_value=5), min_size=6, max_size=6))
def test_brs_mirrored_answers_mirror_the_score(answers: list[int]) -> None:
    score = progress.brs_score(answers)
    assert 1.0 <= score <= 5.0
    assert abs(progress.brs_score([6 - a for a in answers]) - (6 - score)) <= 0.011
    assert progress.brs_band(score) in ("low", "normal", "high")


def test_the_items_in_the_dialog_are_the_published_six(catalog: Catalog) -> None:
    items = [
        catalog.steps[f"resilience.q{i}"].say_src.split("> ", 1)[1].strip() for i in range(1, 7)
    ]
    assert items == [
        "I tend to bounce back quickly after hard times.",
        "I have a hard time making it through stressful events.",
        "It does not take me long to recover from a stressful event.",
        "It is hard for me to snap back when something bad happens.",
        "I usually come through difficult times with little trouble.",
        "I tend to take a long time to get over set-backs in my life.",
    ]
    scale = [o.label for o in catalog.steps["resilience.q1"].options]
    assert scale == ["Strongly disagree", "Disagree", "Neutral", "Agree", "Strongly agree"]


# -- the chart ------------------------------------------------------------------------------------


def png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert data[12:16] == b"IHDR"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def known_chart() -> dict[str, Any]:
    report = progress.build_report(
        feelings=FEELINGS,
        asks=asks((0, "no"), (1, "yes"), (9, "partial"), (16, "no")),
        now=T0 + timedelta(days=20),
    )
    return report["chart"]


def test_the_chart_is_a_png_of_phone_size_with_alt_text() -> None:
    chart = known_chart()
    data = charts.render_progress_chart(chart)
    width, height = png_size(data)
    assert (width, height) == (780, 975)
    assert 10_000 < len(data) < 400_000
    alt = charts.alt_text(chart)
    assert alt.startswith("Progress chart.")
    assert "feeling intensity, 4 ratings from 2 Mar (8 of 10) to 22 Mar (5 of 10)" in alt
    assert "week of 2 Mar: 2" in alt and "week of 16 Mar: 1" in alt


def test_the_chart_draws_with_empty_series_too() -> None:
    chart = {"intensity": [[at(0), 4]], "sting": [], "weeks": []}
    assert png_size(charts.render_progress_chart(chart)) == (780, 975)
    assert "no challenge asks yet" in charts.alt_text(chart)
    assert not charts.has_data({"intensity": [], "sting": [], "weeks": []})


def test_without_matplotlib_the_chart_says_how_to_get_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    with pytest.raises(charts.ChartsUnavailable, match=r"rebound\[charts\]"):
        charts.render_progress_chart(known_chart())


def test_only_progress_pays_for_importing_matplotlib() -> None:
    code = (
        "import sys; import bot.cli, bot.app, bot.engine, bot.actions, bot.charts, bot.export, "
        "adapters.terminal.run; print('matplotlib' in sys.modules)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "False"


def test_the_terminal_saves_the_chart_and_gives_its_path(tmp_path: Path) -> None:
    lines = [
        {"user": "u1", "command": "rebound"},
        {"user": "u1", "choice": "arrive.kind:job"},
        {"user": "u1", "text": "The agency said no"},
        {"user": "u1", "choice": "arrive.sting:8"},
        {"user": "u1", "choice": ["feel.name:sad"]},
        {"user": "u1", "choice": "feel.intensity:6"},
        {"user": "u1", "command": "progress"},
    ]
    env = {k: v for k, v in os.environ.items() if not k.startswith("REBOUND_")}
    env.update(
        DATABASE_URL=f"sqlite:///{tmp_path / 'chat.db'}", REBOUND_FILES_DIR=str(tmp_path / "f")
    )
    result = subprocess.run(
        [sys.executable, "-m", "bot.cli", "chat", "--json"],
        input="\n".join(json.dumps(line) for line in lines) + "\n",
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    last = json.loads(result.stdout.splitlines()[-1])
    (file,) = [r["file"] for r in last["replies"] if "file" in r]
    assert file["name"].endswith(".png")
    assert png_size(Path(file["path"]).read_bytes()) == (780, 975)


# -- every step of the new dialogs renders ---------------------------------------------------------

NEW_FLOWS = ("progress", "sting", "resilience", "why", "retention")


def test_the_new_dialogs_render_without_a_stray_none_or_shouting(catalog: Catalog) -> None:
    full = progress.build_report(
        episodes=EPISODES,
        feelings=FEELINGS,
        action_items=ACTIONS,
        asks=asks((29, "no"), (30, "yes")),
        notes=[{"kind": "feedback_reply", "text": t, "created_at": at(i)} for i, t in
               enumerate(REASONS)],
        checkins=[{"scale": "brs", "answers": "[3, 3, 3, 3, 3, 3]", "at": at(0)},
                  {"scale": "brs", "answers": "[4, 2, 4, 2, 4, 2]", "at": at(28)}],
        now=T0 + timedelta(days=31),
        suggestions=catalog.data["why_suggestions"],
    )  # fmt: skip
    ledger = progress.why_ledger(reason_rows(REASONS))
    ledger["suggestion"] = "A step."
    base: dict[str, Any] = {**dict.fromkeys(catalog.answers), **catalog.data}
    base.update(now=T0, today=T0.date(), label=catalog.label, labels=catalog.labels)
    base.update(first_time=False, platform="test")
    contexts = [
        {**base, "progress": full, "chart_status": s, "ledger": ledger, "sting_now": 3,
         "sting_start": 8, "sting_change": -5, "sting_elapsed": 7, "sting_about": "A pitch",
         "checkin_score": 3.5, "checkin_band": "normal", "checkin_prev": 3.17,
         "checkin_last": {"date": "2026-03-02", "score": 3.17, "band": "normal"},
         "retention_days": 30, "last_sting": full["sting"]}
        for s in ("sent", "missing", "failed", "none")
    ] + [
        {**base, "progress": progress.build_report(now=T0), "chart_status": "none",
         "ledger": progress.why_ledger([]), "checkin_score": 2.0, "checkin_band": "low"}
    ]  # fmt: skip
    for ctx in contexts:
        for flow in (*NEW_FLOWS, "arrive"):
            for step in catalog.flows[flow].steps.values():
                text = step.say.render(ctx) if step.say is not None else ""
                assert "None" not in text, step.id
                assert "!" not in text, step.id
                for branch in step.next:
                    if branch.condition is not None:
                        branch.condition(**ctx)


# -- conversations -------------------------------------------------------------------------------


async def arrive(chat: FakeChat, summary: str, sting: str | None = None) -> None:
    await chat.command("rebound")
    await chat.tap("A job application")
    await chat.say(summary)
    assert "how much does it sting right now" in said(chat)
    await chat.tap(sting if sting is not None else "Skip")
    assert "Which of these fit right now?" in said(chat)


async def test_progress_shows_the_figures_and_a_chart(
    chat: FakeChat, store: SqlStore, clock: FakeClock
) -> None:
    await arrive(chat, "The agency said no after the second round", sting="8")
    await chat.choose("feel.name:disappointed")
    await chat.tap("8")
    await chat.tap("I'm OK for now")
    await chat.command("challenge")
    await chat.tap("7 days")
    await chat.tap("I asked: log it")
    await chat.say("Asked a shop for a discount")
    await chat.tap("No")
    await chat.tap("No, I didn't")
    await chat.tap("Log another ask")
    await chat.say("Asked a colleague to swap a task")
    await chat.tap("Yes")
    await chat.tap("No, I didn't")
    clock.advance(days=2)  # a missed day in between: the streak forgives it

    await chat.command("progress")
    text = said(chat)
    assert "Here's how far you've come." in text
    assert "Rejections you've talked through: 1" in text
    assert "2026-03-02, a job application: felt it, tried the challenge" in text
    assert "Action items: 0 done, 0 open" in text
    assert "Asks: 2 (1 yes, 0 partly, 1 no)" in text
    assert "Yes-rate: 50%." in text
    assert "Current streak: 1 day (an ask today keeps it going)" in text
    assert "one missed day in any seven doesn't break them" in text
    assert "The chart shows how strong it felt over time" in text
    assert '- You\'ve collected 1 "No"s and maybes on purpose.' in text
    (image,) = [r.file for r in chat.last if r.file]
    assert image.is_image and image.mime == "image/png"
    assert png_size(image.data) == (780, 975)
    assert image.alt.startswith("Progress chart.")
    (close,) = [r for r in chat.last if "What stands out" in r.text]
    assert [c.label for c in close.choices] == [
        "My journal",
        "My action items",
        "Reasons I've been given",
        "Resilience check-in",
    ]
    assert "how much does it sting now?" in text  # the day-1 re-ask, offered after it
    state = (await store.load(str(chat.key))).state
    assert state["data"]["progress"] is None  # shown, then dropped from the state


async def test_progress_for_someone_new_and_without_matplotlib(
    chat: FakeChat, monkeypatch: pytest.MonkeyPatch
) -> None:
    await chat.command("progress")
    assert "Nothing to show yet" in said(chat)
    assert [r.file for r in chat.last if r.file] == []
    assert chat.buttons() == ["Talk about a rejection", "Rejection challenge", "My journal"]

    await arrive(chat, "The agency said no", sting="5")
    await chat.choose("feel.name:sad")
    await chat.tap("6")
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    await chat.command("progress")
    assert "(the charts add-on isn't installed), but every number is above." in said(chat)
    assert "No challenge asks yet." in said(chat)
    assert [r.file for r in chat.last if r.file] == []


async def test_the_sting_is_asked_again_on_day_one_and_seven_and_shown_next_time(
    chat: FakeChat, store: SqlStore, clock: FakeClock
) -> None:
    await arrive(chat, "The agency said no after the second round", sting="8")
    data = await exported(store, chat)
    checks = sorted(t["due_at"][:10] for t in data["timers"] if t["kind"] == "sting_check")
    assert checks == ["2026-03-03", "2026-03-09", "2026-04-01"]

    clock.advance(days=1)
    await chat.say("hello")
    assert "how much does it sting now?" in said(chat)
    await chat.tap("Rate the sting now")
    assert "> The agency said no after the second round" in chat.text()
    assert "When it happened, it stung at 8 out of 10." in said(chat)
    await chat.tap("6")
    assert "From 8 down to 6 in 1 day." in said(chat)

    clock.advance(days=6)
    await chat.say("hello")
    await chat.tap("Rate the sting now")
    await chat.tap("3")
    assert "From 8 down to 3 in 7 days." in said(chat)

    phases = {f["phase"]: f["intensity"] for f in (await exported(store, chat))["feelings"]}
    assert phases == {"sting": 8, "sting_day1": 6, "sting_day7": 3}

    # The next rejection: the user sees their own curve before rating the new one.
    await chat.command("rebound")
    await chat.tap("An interview")
    await chat.say("The bank turned me down")
    assert "last time, a sting of 8 fell to 3 within a week." in said(chat)


async def test_after_a_long_absence_one_sting_answer_settles_the_older_asks(
    chat: FakeChat, store: SqlStore, clock: FakeClock
) -> None:
    await arrive(chat, "The agency said no", sting="7")
    clock.advance(days=8)
    await chat.say("hello")
    offers = [c.id for r in chat.last for c in r.choices if c.id.startswith("timer:")]
    assert len(offers) == 1  # day 1 and day 7 are both due: one question, not two
    await chat.choose(offers[0])
    await chat.tap("2")
    assert "From 7 down to 2 in 8 days." in said(chat)
    pending = [t for t in (await exported(store, chat))["timers"] if t["status"] == "pending"]
    assert [t["payload"]["sting_day"] for t in pending] == [30]


async def test_a_skipped_sting_schedules_no_re_asks(chat: FakeChat, store: SqlStore) -> None:
    await arrive(chat, "The agency said no")
    data = await exported(store, chat)
    assert [t for t in data["timers"] if t["kind"] == "sting_check"] == []
    assert [f for f in data["feelings"] if f["phase"] == "sting"] == []
    assert data["episodes"][0]["summary"] == "The agency said no"


async def test_journal_entry_opened_edited_and_given_a_reread_note(
    chat: FakeChat, store: SqlStore
) -> None:
    await chat.command("journal")
    await chat.tap("Write a new entry")
    await chat.say("Rough day.\nThe call went badly.")
    await chat.command("journal")
    assert "Tap an entry to open it" in said(chat)
    assert chat.buttons() == [
        "2026-03-02: Rough day. The call went badly.",
        "Write a new entry",
        "Not now",
    ]
    await chat.tap("2026-03-02: Rough day. The call went badly.")
    assert "Written on 2026-03-02:" in said(chat)
    assert "> Rough day.\n> The call went badly." in chat.text()
    assert chat.buttons() == ["Edit it", "Write a reread note", "Back to my journal", "That's all"]

    await chat.tap("Edit it")
    assert chat.form() == "Rough day.\nThe call went badly."
    await chat.say("Rough day.\nThe call went badly, but I stayed calm.")
    assert "Saved." in said(chat)
    assert "> The call went badly, but I stayed calm." in chat.text()

    await chat.tap("Write a reread note")
    assert chat.form() == ""
    await chat.say("Reading it again, I was kinder to myself than I thought.")
    assert "Kept next to the entry." in said(chat)
    assert "Your note on rereading it (2026-03-02):" in said(chat)
    await chat.tap("Back to my journal")
    assert "(a day later: Reading it again, I was kinder" in said(chat)

    (entry,) = (await exported(store, chat))["journal_entries"]
    assert entry["text"] == "Rough day.\nThe call went badly, but I stayed calm."
    assert entry["reread_note"] == "Reading it again, I was kinder to myself than I thought."
    assert entry["reread_at"] is not None


async def test_action_items_can_be_reworded_redated_and_dropped(
    chat: FakeChat, store: SqlStore
) -> None:
    for text in ("Update my CV", "Email two former colleagues"):
        await chat.command("actions")
        await chat.tap("Add a new one")
        await chat.say(text)
        await chat.tap("Skip")
    await chat.command("actions")
    await chat.tap("Change or drop one")
    assert "Which one?" in said(chat)
    await chat.tap("Update my CV")
    assert chat.buttons() == ["Change the wording", "Change the date", "Drop it", "Back to my list"]
    await chat.tap("Change the wording")
    assert chat.form() == "Update my CV"
    await chat.say("Update my CV with the new project")
    assert "Changed: > Update my CV with the new project" in said(chat)
    await chat.tap("See my list")
    await chat.tap("Change or drop one")
    await chat.tap("Update my CV with the new project")
    await chat.tap("Change the date")
    await chat.say("20 March")
    assert "Due on 2026-03-20." in said(chat)

    await chat.tap("See my list")
    await chat.tap("Change or drop one")
    await chat.tap("Email two former colleagues")
    await chat.tap("Drop it")
    assert "Deciding not to do something is a decision too" in said(chat)
    await chat.tap("Yes, drop it")
    assert "Dropped." in said(chat)
    await chat.tap("See my list")
    assert "- Update my CV with the new project (by 2026-03-20)" in said(chat)
    assert "Email two former colleagues" not in said(chat)

    items = {i["text"]: i for i in (await exported(store, chat))["action_items"]}
    assert items["Update my CV with the new project"]["due_on"] == "2026-03-20"
    dropped = items["Email two former colleagues"]
    assert (dropped["dropped_at"] is not None, dropped["done_at"]) == (True, None)


async def test_the_why_ledger_from_challenge_reasons_and_feedback_replies(
    chat: FakeChat, store: SqlStore, clock: FakeClock
) -> None:
    await chat.command("why")
    assert "This is where the reasons people give you" in said(chat)
    await chat.tap("Add a reason I was given")
    await chat.say("They wanted more experience with Angular.")
    await chat.tap("That's all")
    clock.advance(hours=1)
    await chat.command("challenge")
    await chat.tap("7 days")
    await chat.tap("I asked: log it")
    await chat.say("Asked a studio for a trial project")
    await chat.tap("No")
    await chat.tap("Yes, I asked")
    assert "What reason did they give?" in said(chat)
    await chat.say("Not enough Angular experience yet")
    assert "So far: 1 ask, 0 yes, 1 no." in said(chat)

    await chat.command("why")
    assert "Here's a pattern: 2 of your last 2 reasons mentioned Angular and experience." in (
        said(chat)
    )
    assert "a course, a small project" in said(chat)
    assert chat.buttons() == ["Add an action item", "Add another reason", "That's all"]
    (ask,) = (await exported(store, chat))["challenge_asks"]
    assert (ask["asked_why"], ask["why"]) == (True, "Not enough Angular experience yet")


async def test_the_resilience_check_in_is_offered_after_the_first_journey(
    chat: FakeChat, store: SqlStore, clock: FakeClock
) -> None:
    await chat.command("plan")
    await chat.tap("A job application")
    await chat.say("The agency said no")
    await chat.tap("Skip")
    await chat.say("Ask two people what they look for")
    await chat.tap("Skip")
    await chat.tap("That's enough for now")
    await chat.tap("Skip")
    assert "a real win" in said(chat)
    clock.advance(hours=1)
    await chat.say("hello")
    assert "one-minute check-in on how you bounce back" in said(chat)
    await chat.tap("A short resilience check-in")
    assert "not a test and not a diagnosis" in said(chat)
    await chat.tap("Yes, let's do it")
    assert "> I tend to bounce back quickly after hard times." in chat.text()
    for answer in ("Agree", "Disagree", "Neutral", "Neutral", "Agree", "Strongly disagree"):
        await chat.tap(answer)
    text = said(chat)
    assert "Your score is 3.83, on a scale from 1 to 5." in text
    assert "1.00 to 2.99 low, 3.00 to 4.30 normal and 4.31 to 5.00 high" in text
    assert "fall in their normal range" in text

    data = await exported(store, chat)
    (checkin,) = data["checkins"]
    assert (checkin["scale"], json.loads(checkin["answers"])) == ("brs", [4, 2, 3, 3, 4, 1])
    pending = [t for t in data["timers"] if t["kind"] == "brs_checkin" and t["status"] == "pending"]
    assert [t["due_at"][:10] for t in pending] == ["2026-03-30"]  # four weeks on
    assert data["conversation"]["answers"]["brs_1"] is None

    # Four weeks later, the score is shown next to the last one, and in /progress.
    clock.advance(weeks=4)
    await chat.command("resilience")
    assert "Last time, on 2026-03-02, your score was 3.83." in said(chat)
    await chat.command("progress")
    assert "Resilience check-ins (a mirror, not a diagnosis): 3.83 on 2026-03-02." in said(chat)


async def test_the_resilience_offer_is_not_repeated_until_one_lapses() -> None:
    state: dict[str, Any] = {}

    async def offer(days: int) -> list[Any]:
        ctx = actions.ActionContext(
            user="u", state=state, now=T0 + timedelta(days=days), store=None
        )  # type: ignore[arg-type]
        await actions.offer_checkin(ctx)
        return [w for w in ctx.writes if isinstance(w, Add)]

    (first,) = await offer(0)
    assert (first.values["kind"], first.values["due_at"]) == (
        "brs_checkin",
        T0 + timedelta(hours=1),
    )
    assert await offer(10) == []  # a second journey: the offer is already out
    assert len(await offer(30)) == 1  # that offer went by four weeks ago: once more
    state["resilience"]["off"] = True
    assert await offer(90) == []


async def test_the_resilience_offer_can_be_turned_off(chat: FakeChat, store: SqlStore) -> None:
    await chat.command("resilience")
    await chat.tap("Not now")
    assert "I'll offer it again in about four weeks" in said(chat)
    await chat.command("resilience")
    await chat.tap("Please don't offer it again")
    data = await exported(store, chat)
    statuses = sorted(t["status"] for t in data["timers"] if t["kind"] == "brs_checkin")
    assert statuses == ["cancelled"]
    assert data["checkins"] == []
