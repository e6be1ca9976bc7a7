"""Daily check-ins and other nudges, end to end: settings through the chat, delivery through the
scheduler to a fake platform, with a clock moved by hand (no sleeping)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from bot.engine import Engine
from bot.flows import Catalog
from bot.nudges.scheduler import Scheduler
from bot.ports import DeliveryFailed, Unreachable
from bot.safety import screen
from bot.store import SqlStore, make_engine
from bot.store.crypto import Cipher
from bot.testing import FakeChat, FakeClock, FakeSender

START = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)  # a Monday, 08:00 in New York


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(START)


@pytest.fixture
def sender() -> FakeSender:
    return FakeSender()


@pytest.fixture
def scheduler(engine: Engine, store: SqlStore, sender: FakeSender, clock: FakeClock) -> Scheduler:
    return Scheduler(store, engine.nudge, [sender], clock, rate_per_platform=0)


async def opt_in(chat: FakeChat, place: str = "new york") -> None:
    await chat.command("nudges")
    assert "It's off until you turn it on" in " ".join(chat.text().split())
    await chat.tap("Turn it on")
    assert "Which city are you in?" in chat.text()
    await chat.say(place)


async def timers(store: SqlStore, chat: FakeChat) -> list[dict]:
    return (await store.export(str(chat.key)))["timers"]


async def test_opting_in_asks_for_a_place_and_schedules_the_first_check_in(
    chat: FakeChat, store: SqlStore
) -> None:
    await chat.command("nudges")
    await chat.tap("Turn it on")
    await chat.say("the moon")
    assert "I couldn't place that" in chat.text()
    await chat.say("New York")
    text = " ".join(chat.text().split())
    assert "Thanks, I'll use America/New_York." in text
    assert "Done: a check-in every day at 09:00, starting Monday at 09:00." in text
    (checkin,) = [t for t in await timers(store, chat) if t["kind"] == "checkin"]
    assert checkin["due_at"] == "2026-06-01T13:00:00+00:00"
    profile = (await store.export(str(chat.key)))["profile"]
    assert profile["timezone"] == "America/New_York" and profile["nudges"]["enabled"] is True


async def test_nothing_is_sent_to_someone_who_never_opted_in(
    chat: FakeChat, scheduler: Scheduler, sender: FakeSender, clock: FakeClock
) -> None:
    await chat.say("I was let go today after six years there")
    clock.advance(days=2)
    await scheduler.run_once()
    assert sender.sent == []


async def test_the_check_in_arrives_at_local_time_once_and_the_next_is_booked(
    chat: FakeChat, store: SqlStore, scheduler: Scheduler, sender: FakeSender, clock: FakeClock
) -> None:
    await opt_in(chat)
    clock.advance(minutes=59)  # 08:59 local
    assert (await scheduler.run_once()).sent == 0
    clock.advance(minutes=1)
    stats = await scheduler.run_once()
    assert stats.sent == 1
    ((who, replies),) = sender.sent
    assert who == str(chat.key)
    assert "how are you feeling today?" in replies[0].text
    labels = [c.label for c in replies[0].choices]
    assert labels[:4] == ["Pretty good", "Okay", "A bit low", "Rough"]
    assert labels[-3:] == ["In an hour", "This evening", "Next working day"]
    assert (await scheduler.run_once()).sent == 0
    pending = [t for t in await timers(store, chat) if t["status"] == "pending"]
    assert [t["due_at"] for t in pending] == ["2026-06-02T13:00:00+00:00"]


async def test_one_tap_mood_on_the_nudge_answers_and_suggests_one_next_step(
    chat: FakeChat, scheduler: Scheduler, sender: FakeSender, clock: FakeClock, store: SqlStore
) -> None:
    await opt_in(chat)
    await chat.command("rebound")
    await chat.tap("A job application")
    await chat.say("The agency said no after the second round")
    clock.advance(hours=1)
    await scheduler.run_once()
    ((_, replies),) = sender.sent
    low = next(c.id for c in replies[0].choices if c.label == "A bit low")
    await chat.choose(low)
    text = " ".join(chat.text().split())
    assert "Thank you for being honest with me." in text
    assert "It's early days since the" in text
    assert chat.buttons()[0] == "Take a moment with how it feels"
    await chat.tap("Take a moment with how it feels")
    assert "Which of these fit right now?" in " ".join(chat.text().split())
    moods = [f for f in (await store.export(str(chat.key)))["feelings"] if f["phase"] == "checkin"]
    assert [m["feelings"] for m in moods] == [["low"]]
    await chat.choose(low)  # the same nudge again: already answered
    assert "That button is from an earlier message" in chat.text()


async def test_snooze_moves_the_nudge(
    chat: FakeChat, scheduler: Scheduler, sender: FakeSender, clock: FakeClock
) -> None:
    await opt_in(chat)
    clock.advance(hours=1)
    await scheduler.run_once()
    ((_, replies),) = sender.sent
    await chat.choose(next(c.id for c in replies[0].choices if c.label == "In an hour"))
    assert chat.text() == "Snoozed. I'll bring it back Monday 10:00 (your time)."
    clock.advance(minutes=59)
    assert (await scheduler.run_once()).sent == 0
    clock.advance(minutes=1)
    assert (await scheduler.run_once()).sent == 1


async def test_weekdays_only_skips_the_weekend(
    chat: FakeChat, store: SqlStore, scheduler: Scheduler, sender: FakeSender, clock: FakeClock
) -> None:
    await opt_in(chat)
    await chat.command("nudges")
    await chat.tap("Choose the days")
    await chat.tap("Monday to Friday")
    clock.advance(hours=1)  # 09:00 in New York
    await scheduler.run_once()
    days = []
    for _ in range(7):
        clock.advance(days=1)
        before = len(sender.sent)
        await scheduler.run_once()
        if len(sender.sent) > before:
            days.append(clock.now().astimezone(UTC).strftime("%a"))
    assert days == ["Tue", "Wed", "Thu", "Fri", "Mon"]
    assert len(sender.sent) == 6


async def test_pause_and_stop(
    chat: FakeChat, scheduler: Scheduler, sender: FakeSender, clock: FakeClock
) -> None:
    await opt_in(chat)
    await chat.command("nudges")
    await chat.tap("Pause for a while")
    await chat.tap("3 days")
    assert "Paused. I'll pick up again on 2026-06-04." in chat.text()
    clock.advance(hours=1)  # 09:00 in New York, each day from here
    for _ in range(2):
        clock.advance(days=1)
        await scheduler.run_once()
    assert sender.sent == []
    clock.advance(days=1)
    await scheduler.run_once()
    assert len(sender.sent) == 1
    await chat.command("nudges")
    await chat.tap("Stop check-ins")
    for _ in range(3):
        clock.advance(days=1)
        await scheduler.run_once()
    assert len(sender.sent) == 1


async def test_after_downtime_missed_nudges_collapse_into_one(
    chat: FakeChat, scheduler: Scheduler, sender: FakeSender, clock: FakeClock, store: SqlStore
) -> None:
    await opt_in(chat)
    await chat.command("rebound")
    await chat.tap("A job application")
    await chat.say("no again from the third company this month")
    await chat.tap("Skip")  # how much it stings
    await chat.choose("feel.name:sad")
    await chat.tap("4")
    await chat.tap("Go for a short walk")
    await chat.tap("10 minutes")
    clock.advance(days=3, hours=2)  # the bot was down for three days
    stats = await scheduler.run_once()
    kinds = [r[0].text for _, r in sender.sent]
    assert len(sender.sent) == 1 and "how are you feeling today?" in kinds[0]
    assert stats.stale >= 1  # the walk check-back is three days old: dropped, not sent
    pending = [t for t in await timers(store, chat) if t["status"] == "pending"]
    assert len([t for t in pending if t["kind"] == "checkin"]) == 1


async def test_a_failed_send_is_retried_with_backoff(
    chat: FakeChat, scheduler: Scheduler, sender: FakeSender, clock: FakeClock
) -> None:
    await opt_in(chat)
    clock.advance(hours=1)
    sender.fail_next = [DeliveryFailed("503")]
    stats = await scheduler.run_once()
    assert (stats.sent, stats.retried) == (0, 1)
    clock.advance(seconds=59)
    assert (await scheduler.run_once()).sent == 0
    clock.advance(seconds=1)
    assert (await scheduler.run_once()).sent == 1


async def test_an_unreachable_user_gets_no_more_nudges_until_they_talk_again(
    chat: FakeChat, scheduler: Scheduler, sender: FakeSender, clock: FakeClock, store: SqlStore
) -> None:
    await opt_in(chat)
    clock.advance(hours=1)  # 09:00 in New York
    sender.fail_next = [Unreachable("50007")]
    assert (await scheduler.run_once()).unreachable == 1
    assert (await store.export(str(chat.key)))["profile"]["unreachable_since"] is not None
    for _ in range(2):
        clock.advance(days=1)
        await scheduler.run_once()
    assert sender.sent == []
    await chat.command("help")  # they talk to the bot again
    clock.advance(days=1)
    await scheduler.run_once()
    assert len(sender.sent) == 1


async def test_after_a_crisis_no_nudge_for_a_day_then_a_gentle_check_in(
    chat: FakeChat, scheduler: Scheduler, sender: FakeSender, clock: FakeClock
) -> None:
    await opt_in(chat)
    await chat.say("i dont want to be alive anymore")
    clock.advance(hours=1)  # Monday 09:00 in New York: within the quiet day
    await scheduler.run_once()
    clock.advance(hours=23)  # Tuesday 08:00
    await scheduler.run_once()
    assert sender.sent == []
    clock.advance(hours=1)  # Tuesday 09:00, after the quiet day
    await scheduler.run_once()
    ((_, replies),) = sender.sent
    assert "Just checking in, gently." in replies[0].text


async def test_feedback_follow_up_after_the_chosen_working_days(
    chat: FakeChat, scheduler: Scheduler, sender: FakeSender, clock: FakeClock
) -> None:
    await opt_in(chat)
    await chat.command("reflect")
    await chat.tap("A job application")
    await chat.say("The bank turned me down after the final round")
    await chat.tap("Skip")  # how much it stings
    await chat.say("They said another candidate was stronger")
    await chat.choose("reflect.possible:qualified")
    await chat.tap("Skip")
    await chat.tap("Help me write it")
    await chat.say("the hiring manager")
    await chat.say("the analyst role")
    await chat.tap("The final round")
    await chat.say(chat.form())
    await chat.tap("I've sent it: check back with me")
    await chat.tap("3 working days")
    assert "I'll ask you on Thursday 04 June" in chat.text()
    clock.advance(days=3, hours=1)
    await scheduler.run_once()
    followups = [r for _, r in sender.sent if "asked for feedback" in r[0].text]
    assert len(followups) == 1
    await chat.choose(followups[0][0].choices[0].id)
    assert "Did a reply come?" in chat.text()
    await chat.tap("Yes, they replied")
    await chat.say("They wanted more experience with SQL")
    assert "Turn it into action items" in chat.buttons()


async def test_two_check_ins_the_same_day_send_only_one(
    chat: FakeChat, scheduler: Scheduler, sender: FakeSender, clock: FakeClock, store: SqlStore
) -> None:
    await opt_in(chat)
    await store.add_timer(str(chat.key), "checkin", clock.now() + timedelta(minutes=30), {})
    clock.advance(hours=2)
    await scheduler.run_once()
    assert len(sender.sent) == 1


@pytest.mark.postgres
async def test_two_schedulers_racing_send_each_nudge_exactly_once(
    catalog: Catalog, postgres_url: str, cipher: Cipher
) -> None:
    clock = FakeClock(START)
    stores = [SqlStore(make_engine(postgres_url), cipher) for _ in range(2)]
    engine = Engine(catalog, stores[0], clock=clock, screen=screen)
    sender = FakeSender(platform="race")
    try:
        for n in range(300):
            await stores[0].add_timer(f"race::u{n}", "walk_checkback", START, {})
        schedulers = [
            Scheduler(s, engine.nudge, [sender], clock, batch=25, rate_per_platform=0)
            for s in stores
        ]
        results = await asyncio.gather(*(s.run_once() for s in schedulers))
        users = [who for who, _ in sender.sent]
        assert len(users) == 300 and len(set(users)) == 300
        assert all(r.sent > 0 for r in results)
    finally:
        for s in stores:
            await s.close()


async def test_housekeeping_applies_the_retention_setting(
    chat: FakeChat, scheduler: Scheduler, clock: FakeClock, store: SqlStore
) -> None:
    await chat.command("journal")
    await chat.tap("Write a new entry")
    await chat.say("an entry from a hard week")
    await chat.command("retention")
    await chat.tap("After 30 days")
    clock.advance(days=31)
    assert await scheduler.housekeeping() >= 1
    assert (await store.export(str(chat.key)))["journal_entries"] == []
