"""Every step of the journey's dialogs renders, for every kind of rejection and with the optional
answers left out, without an error, a stray "None" or a wall of text; the challenge has enough
ideas to fill a month."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime
from typing import Any

import pytest

from bot.flows import Catalog

FLOWS = (
    "reflect",
    "plan",
    "challenge",
    "practice",
    "act",
    "journal",
    "reread",
    "actions",
    "help",
    "export",
    "forget",
)
KINDS = ("job", "interview", "pitch", "let_go", "school", "other")
# Steps that list the user's own things (or every command) may run longer than a short message.
LISTS = {"help.commands", "journal.start", "actions.pick"}
NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def options(catalog: Catalog, step_id: str) -> list[str]:
    return [o.id for o in catalog.steps[step_id].options]


def contexts(catalog: Catalog) -> list[dict[str, Any]]:
    """One context per kind and variant: every branch value is met at least once."""
    base: dict[str, Any] = {**dict.fromkeys(catalog.answers), **catalog.data}
    base.update(
        now=NOW,
        today=NOW.date(),
        label=catalog.label,
        labels=catalog.labels,
        first_time=False,
        summary="I didn't get the analyst role at Acme Ltd",
        facts="They chose someone with more experience.",
        feedback_to="the hiring manager",
        feedback_about="Data Analyst at Acme Ltd",
        reverse_offer="a short course by April",
        followup_when="Friday 06 March",
        action_text="Finish an Angular course",
        action_due="2026-03-15",
        action_count=2,
        challenge_days="30",
        challenge_length=30,
        challenge_day=3,
        challenge_finished=False,
        in_challenge=True,
        idea=catalog.data["ideas"][2],
        ask_text="Asked for a window seat",
        ask_count=3,
        yes_count=1,
        no_count=2,
        entry_text="Today was rough.\nBut I got through it.",
        entry_date="2026-03-02",
        reread_note="It looks smaller now.",
        recent_entries=[{"date": "2026-03-02", "text": "Rough day.\nBetter now.", "reread": "ok"}],
        open_actions=[{"id": "a1", "label": "Update my CV", "due": "2026-03-15"}],
        action_done="a1",
        lesson="A No is not a verdict.",
        next_step="Email two people",
    )
    stages = options(catalog, "reflect.stage")
    ways = options(catalog, "reflect.reverse")
    answers = options(catalog, "challenge.log_answer")
    possibilities = (
        options(catalog, "reflect.possible")
        + options(catalog, "reflect.possible_pitch")
        + options(catalog, "reflect.possible_let_go")
    )
    interview = options(catalog, "practice.interview")
    skill = options(catalog, "practice.skill")
    out = []
    for kind, i in itertools.product(KINDS, range(6)):
        ctx = dict(base)
        ctx.update(
            kind=kind,
            stage_reached=stages[i % len(stages)],
            reverse_way=ways[i % len(ways)],
            ask_answer=answers[i % len(answers)],
            ask_why=("yes", "no")[i % 2],
            possibilities=[possibilities[(i * 3 + k) % len(possibilities)] for k in range(i % 3)],
            practice_interview=[interview[i], interview[(i + 3) % len(interview)]],
            practice_skill=[skill[i], skill[(i + 1) % len(skill)]],
        )
        out.append(ctx)
        sparse = dict(ctx)
        sparse.update(
            summary=None,
            opening="I didn't get the job I applied for",
            feedback_about=None,
            stage_reached=None,
            action_due=None,
            action_count=1,
            reread_note=None,
            possibilities=None,
            recent_entries=[],
            open_actions=[],
            challenge_length=None,
            ask_count=1,
        )
        out.append(sparse)
    return out


def rendered(catalog: Catalog) -> list[tuple[str, str, str]]:
    """(step id, said text, form draft) for every step of the journey's flows in every context."""
    out = []
    for ctx in contexts(catalog):
        for flow in FLOWS:
            for step in catalog.flows[flow].steps.values():
                text = step.say.render(ctx).strip() if step.say is not None else ""
                form = step.form["initial_t"].render(ctx).strip() if step.form else ""
                for branch in (*step.next, *(b for o in step.options for b in o.next)):
                    if branch.condition is not None:
                        branch.condition(**ctx)
                out.append((step.id, text, form))
    return out


@pytest.fixture(scope="module")
def renders(catalog: Catalog) -> list[tuple[str, str, str]]:
    return rendered(catalog)


def test_every_step_renders_without_a_stray_none(renders: list[tuple[str, str, str]]) -> None:
    leaks = {step for step, text, form in renders if "None" in text or "None" in form}
    assert leaks == set()


def test_messages_stay_short(renders: list[tuple[str, str, str]]) -> None:
    long = {step for step, text, _ in renders if step not in LISTS and len(text.splitlines()) > 7}
    assert long == set()


def test_the_bot_does_not_shout(renders: list[tuple[str, str, str]]) -> None:
    assert {step for step, text, form in renders if "!" in text + form} == set()


def test_every_kind_gets_its_own_opening_question_in_reflect(catalog: Catalog) -> None:
    step = catalog.steps["reflect.start"]
    prompts = {
        step.say.render({**dict.fromkeys(catalog.answers), **catalog.data, "kind": kind})
        for kind in KINDS
    }
    assert len(prompts) == len(KINDS)


def test_the_challenge_has_a_month_of_distinct_small_asks(catalog: Catalog) -> None:
    ideas = catalog.data["ideas"]
    assert len(ideas) >= 30
    assert len(set(ideas)) == len(ideas)
    assert all(idea.startswith("Ask ") and len(idea) <= 100 for idea in ideas)


def test_the_journey_flows_answer_their_commands(catalog: Catalog) -> None:
    commands = {flow: catalog.flows[flow].command for flow in FLOWS}
    assert commands == {
        "reflect": "reflect",
        "plan": "plan",
        "challenge": "challenge",
        "practice": "practice",
        "act": "act",
        "journal": "journal",
        "reread": None,
        "actions": "actions",
        "help": "help",
        "export": "export",
        "forget": "forget",
    }
    assert catalog.flows["reflect"].needs_episode
    assert catalog.flows["plan"].needs_episode
    assert catalog.flows["reflect"].entry == "reflect.start"
    assert catalog.flows["plan"].entry == "plan.start"
