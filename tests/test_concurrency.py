"""Two quick messages from one user are both applied, once each and in order (DESIGN.md section 4:
the popular frameworks lose the first answer here). Runs on SQLite and on PostgreSQL."""

from __future__ import annotations

import asyncio
import uuid

from bot.engine import Engine
from bot.events import ConversationKey, Incoming
from bot.flows import Catalog
from bot.ports import Stored
from bot.store import SqlStore, make_engine
from bot.store.crypto import Cipher
from bot.testing import FakeClock


class SlowStore(SqlStore):
    """A real store with a real await between loading a state and saving the next one."""

    async def load(self, user: str) -> Stored | None:
        stored = await super().load(user)
        await asyncio.sleep(0.01)
        return stored


def key() -> ConversationKey:
    return ConversationKey("test", uuid.uuid4().hex[:12])


async def answers(store: SqlStore, who: ConversationKey) -> dict:
    return (await store.export(str(who)))["conversation"]["answers"]


async def test_a_double_send_in_one_process_is_applied_in_order(
    survey: Catalog, any_db_url: str, cipher: Cipher
) -> None:
    store = SlowStore(make_engine(any_db_url), cipher)
    engine = Engine(survey, store, clock=FakeClock())
    who = key()
    try:
        await engine.handle(Incoming.command(who, "rebound"))
        first, second = await asyncio.gather(
            engine.handle(Incoming.say(who, "one")), engine.handle(Incoming.say(who, "two"))
        )
        assert [r.text for r in first] == ["Second question?"]
        assert [r.text for r in second] == ["Third question? (you said one then two)"]
        assert await answers(store, who) == {
            "after": None,
            "summary": None,
            "opening": None,
            "a1": "one",
            "a2": "two",
        }
    finally:
        await store.close()


async def test_two_processes_racing_for_one_user_both_land(
    survey: Catalog, any_db_url: str, cipher: Cipher
) -> None:
    """Two engines (two bot processes) with their own locks and caches, one database."""
    stores = [SlowStore(make_engine(any_db_url), cipher) for _ in range(2)]
    a, b = (Engine(survey, s, clock=FakeClock()) for s in stores)
    who = key()
    try:
        await a.handle(Incoming.command(who, "rebound"))
        await b.handle(Incoming.say(who, "warm-up"))  # b caches version 2, a still holds 1
        replies = await asyncio.gather(
            a.handle(Incoming.say(who, "from a")), b.handle(Incoming.say(who, "from b"))
        )
        texts = sorted(r[0].text for r in replies)
        assert texts[0] == "Thanks, that's all."
        assert texts[1].startswith("Third question? (you said warm-up then from ")
        stored = await answers(stores[0], who)
        assert stored["a1"] == "warm-up"
        assert stored["a2"] in ("from a", "from b")
        assert stored.get("a3") in ("from a", "from b")
        assert stored["a2"] != stored["a3"]
        notes = (await stores[0].export(str(who)))["notes"]
        assert [n["text"] for n in notes] == [stored["a3"]]
    finally:
        for s in stores:
            await s.close()


async def test_a_redelivered_event_is_answered_once(
    survey: Catalog, any_db_url: str, cipher: Cipher
) -> None:
    store = SqlStore(make_engine(any_db_url), cipher)
    engine = Engine(survey, store, clock=FakeClock())
    who = key()
    try:
        await engine.handle(Incoming.command(who, "rebound"))
        event = Incoming.say(who, "once", event_id=f"Ev{uuid.uuid4().hex}")
        first, again = await asyncio.gather(engine.handle(event), engine.handle(event))
        assert [r.text for r in first] == ["Second question?"]
        assert again == []
        later = await engine.handle(event)
        assert later == []
        assert (await answers(store, who))["a1"] == "once"
        assert (await store.load(str(who))).state["step"] == "survey.q2"
    finally:
        await store.close()


async def test_many_users_at_once_each_keep_their_own_answers(survey: Catalog, store) -> None:
    engine = Engine(survey, store, clock=FakeClock())
    people = [key() for _ in range(50)]
    await asyncio.gather(*(engine.handle(Incoming.command(p, "rebound")) for p in people))
    await asyncio.gather(*(engine.handle(Incoming.say(p, p.user)) for p in people))
    for p in people:
        assert (await answers(store, p))["a1"] == p.user
