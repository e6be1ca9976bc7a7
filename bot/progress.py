"""What /progress shows, computed from plain rows. No I/O, no SQL, no wording.

Every function takes rows as the store hands them out (dicts; times as ISO strings or aware
datetimes) and returns plain JSON-ready numbers, dates and ids. The dialogs choose the words
(`dialogs/progress.yaml`); nothing here says anything the data does not show.
"""

from __future__ import annotations

import json
import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, tzinfo
from typing import Any

from unidecode import unidecode

Row = Mapping[str, Any]

# The journey's stages in the order a user meets them (see bot/actions.py `mark_stage`).
STAGES = ("arrive", "feel", "reflect", "plan", "credit", "challenge", "act")
STING_PHASE = "sting"  # the rating when a rejection is logged; re-asks are "sting_day1" etc.
STING_DAYS = (1, 7, 30)
REASON_NOTE = "feedback_reply"  # notes of this kind are replies to a feedback request


def when(value: Any) -> datetime:
    """An aware UTC datetime from what the store gives (ISO text or a datetime)."""
    dt = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    return dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt.astimezone(UTC)


def _day(value: Any, tz: tzinfo) -> date:
    return when(value).astimezone(tz).date()


def _sorted(rows: Iterable[Row], key: str) -> list[Row]:
    return sorted((r for r in rows if r.get(key)), key=lambda r: when(r[key]))


# -- episodes ------------------------------------------------------------------------------------


def episodes_summary(
    episodes: Iterable[Row], *, recent: int = 5, tz: tzinfo = UTC
) -> dict[str, Any]:
    """How many rejections were logged, how many were worked through to the credit at the end of
    a plan, and the stages each of the newest reached (in journey order)."""
    rows = _sorted(episodes, "opened_at")
    items = [
        {
            "kind": r.get("kind") or "other",
            "opened": _day(r["opened_at"], tz).isoformat(),
            "stages": [s for s in STAGES if s in (r.get("stages") or ())],
            "closed": bool(r.get("closed_at")),
        }
        for r in rows
    ]
    return {
        "total": len(items),
        "closed": sum(1 for i in items if i["closed"]),
        "recent": list(reversed(items))[:recent],
    }


# -- feelings ------------------------------------------------------------------------------------


def _is_sting(phase: Any) -> bool:
    return str(phase or "").startswith(STING_PHASE)


def intensity_points(feelings: Iterable[Row]) -> list[tuple[datetime, int, str]]:
    """Feeling intensity (1-10) over time, oldest first; sting ratings are a separate series."""
    return [
        (when(r["at"]), int(r["intensity"]), str(r.get("phase") or "start"))
        for r in _sorted(feelings, "at")
        if r.get("intensity") is not None and not _is_sting(r.get("phase"))
    ]


def _direction(first: int, last: int) -> str:
    return "down" if last < first else "up" if last > first else "steady"


def intensity_trend(feelings: Iterable[Row], tz: tzinfo = UTC) -> dict[str, Any]:
    """The first and latest rating taken when a feeling was named (comparable moments), and how
    often a coping strategy (breathing, a walk) lowered the rating that followed it."""
    points = intensity_points(feelings)
    starts = [(at, v) for at, v, phase in points if phase == "start"]
    trend: dict[str, Any] = {
        "count": len(points),
        "first": None,
        "latest": None,
        "first_date": None,
        "latest_date": None,
        "direction": None,
        "coping_tries": 0,
        "coping_helped": 0,
    }
    if len(starts) >= 2:
        (t0, v0), (t1, v1) = starts[0], starts[-1]
        trend.update(
            first=v0,
            latest=v1,
            first_date=t0.astimezone(tz).date().isoformat(),
            latest_date=t1.astimezone(tz).date().isoformat(),
            direction=_direction(v0, v1),
        )
    before: int | None = None
    for _at, value, phase in points:
        if phase == "start":
            before = value
        elif phase.startswith("after") and before is not None:
            trend["coping_tries"] += 1
            trend["coping_helped"] += int(value < before)
            before = value
    return trend


# -- the sting curve -----------------------------------------------------------------------------


def _sting_points(feelings: Iterable[Row]) -> dict[str, list[tuple[datetime, int]]]:
    by_episode: dict[str, list[tuple[datetime, int]]] = defaultdict(list)
    for r in _sorted(feelings, "at"):
        if _is_sting(r.get("phase")) and r.get("intensity") is not None and r.get("episode_id"):
            by_episode[str(r["episode_id"])].append((when(r["at"]), int(r["intensity"])))
    return by_episode


def sting_curves(feelings: Iterable[Row]) -> dict[str, list[tuple[float, int]]]:
    """Per episode, (days since the first sting rating, rating 0-10), oldest first."""
    return {
        episode: [((t - points[0][0]).total_seconds() / 86400, v) for t, v in points]
        for episode, points in _sting_points(feelings).items()
    }


def _whole_days(days: float) -> int:
    return max(1, round(days))


def sting_summary(curve: Sequence[tuple[float, int]]) -> dict[str, Any] | None:
    """ "8 fell to 3 within a week": the first rating, the last one within about a week (if
    any), and the latest one with how many days after it came. None with fewer than two
    ratings: one number is not a curve."""
    if len(curve) < 2:
        return None
    start = curve[0][1]
    week = [(d, v) for d, v in curve[1:] if d <= 7.5]
    last_days, last = curve[-1]
    return {
        "start": start,
        "week": week[-1][1] if week else None,
        "week_days": _whole_days(week[-1][0]) if week else None,
        "end": last,
        "days": _whole_days(last_days),
        "direction": _direction(start, last),
    }


def last_sting(feelings: Iterable[Row], *, exclude: str | None = None) -> dict[str, Any] | None:
    """The sting curve of the most recent rejection that has one, for "last time" at the next."""
    points = _sting_points(feelings)
    for episode in sorted(points, key=lambda e: points[e][0][0], reverse=True):
        if episode == exclude:
            continue
        t0 = points[episode][0][0]
        summary = sting_summary([((t - t0).total_seconds() / 86400, v) for t, v in points[episode]])
        if summary is not None:
            return summary
    return None


def sting_start(feelings: Iterable[Row], episode: str) -> int | None:
    """The rating given when the rejection was logged."""
    curve = sting_curves(feelings).get(episode)
    return curve[0][1] if curve else None


# -- action items --------------------------------------------------------------------------------


def action_counts(items: Iterable[Row], today: date) -> dict[str, int]:
    out = {"open": 0, "done": 0, "dropped": 0, "overdue": 0}
    for item in items:
        if item.get("done_at"):
            out["done"] += 1
        elif item.get("dropped_at"):
            out["dropped"] += 1
        else:
            out["open"] += 1
            due = item.get("due_on")
            if due and date.fromisoformat(str(due)[:10]) < today:
                out["overdue"] += 1
    return out


# -- the rejection challenge ---------------------------------------------------------------------

# The forgiving rule, shown to the user: one missed day in any seven does not break a streak.
FORGIVE_WINDOW = 7


@dataclass(frozen=True, slots=True)
class Streak:
    days: int  # calendar days from the streak's first to its last active day, rest days included
    active: int  # days in it with at least one ask
    forgiven: int  # missed days inside it that the rule forgave
    last: date | None  # the streak's most recent active day


def current_streak(active_days: Iterable[date], today: date) -> Streak:
    """The streak that is still alive today. Today, not over yet, is never a missed day. Going
    back from there, a missed day is forgiven when no other forgiven miss is within the seven
    days after it (so any seven days hold at most one); a second one breaks the streak."""
    days = set(active_days)
    if not days:
        return Streak(0, 0, 0, None)
    earliest = min(days)
    cursor = today if today in days else today - timedelta(days=1)
    misses: list[date] = []
    first = last = None
    active = 0
    while cursor >= earliest:
        if cursor in days:
            active += 1
            last = last or cursor
            first = cursor
        else:
            if misses and (misses[-1] - cursor).days < FORGIVE_WINDOW:
                break
            misses.append(cursor)
        cursor -= timedelta(days=1)
    if last is None or first is None:
        return Streak(0, 0, 0, None)
    forgiven = sum(1 for m in misses if first < m < last)
    return Streak(days=(last - first).days + 1, active=active, forgiven=forgiven, last=last)


def _week(d: date) -> date:
    return d - timedelta(days=d.weekday())


def asks_per_week(
    asks: Iterable[Row], today: date, tz: tzinfo = UTC, *, weeks: int = 12
) -> list[list[Any]]:
    """[week starting Monday (ISO), yes, partial, no] for each week from the first ask's week
    (at most `weeks` back) to this week, empty weeks included: gaps are part of the picture."""
    counts: dict[date, Counter[str]] = defaultdict(Counter)
    for a in asks:
        counts[_week(_day(a["at"], tz))][str(a.get("answer"))] += 1
    if not counts:
        return []
    this_week = _week(today)
    start = max(min(counts), this_week - timedelta(weeks=weeks - 1))
    out = []
    week = start
    while week <= this_week:
        c = counts.get(week, Counter())
        out.append([week.isoformat(), c["yes"], c["partial"], c["no"]])
        week += timedelta(weeks=1)
    return out


def challenge_stats(asks: Iterable[Row], today: date, tz: tzinfo = UTC) -> dict[str, Any]:
    """Asks, answers, the yes-rate (None with no asks: there is no rate to speak of) and the
    current streak of days with an ask."""
    rows = list(asks)
    answers = Counter(str(a.get("answer")) for a in rows)
    total = len(rows)
    streak = current_streak((_day(a["at"], tz) for a in rows), today)
    return {
        "total": total,
        "yes": answers["yes"],
        "no": answers["no"],
        "partial": answers["partial"],
        "asked_why": sum(1 for a in rows if a.get("asked_why")),
        "yes_rate": round(100 * answers["yes"] / total) if total else None,
        "streak": streak.days,
        "streak_active": streak.active,
        "streak_forgiven": streak.forgiven,
        "streak_last": streak.last.isoformat() if streak.last else None,
        "asked_today": any(_day(a["at"], tz) == today for a in rows),
    }


# -- the "why" ledger ----------------------------------------------------------------------------

# Words that say nothing about a reason on their own (English; a reason in another language
# simply groups by its own words).
_STOP_WORDS = """
    a about above after again against all also although am an and another any are aren around as
    at be because been before being below between both but by can cannot could couldn did didn
    do does doesn doing don down during each either else enough even ever every few for from
    further get got had hadn has hasn have haven having he her here hers herself him himself his
    how however i if in into is isn it its itself just least less let like likely made make many
    may me might more most much must my myself need needed needs neither no nor not now of off
    often on once one only or other others otherwise our ours ourselves out over own per perhaps
    quite rather really said same say says see seem seemed shall she should shouldn since so some
    someone something still such than that the their theirs them themselves then there these
    they this those though through thus time to too under unfortunately until up upon us very
    via was wasn way we were weren what when where whether which while who whom whose why will
    with within without won would wouldn yes yet you your yours yourself yourselves
    candidate candidates decided decision feedback felt go going looking moved move moving
    position role chose chosen choose thanks thank told went want wanted
"""
_STOP = frozenset(_STOP_WORDS.split())
_WORD = re.compile(r"[^\W\d_]+(?:['\u2019][^\W\d_]+)*")
_SENTENCE_START = re.compile(r"(^|[.!?]\s+)$")


def _stem(word: str) -> str:
    if len(word) > 4 and word.endswith("ies"):
        return word[:-3] + "y"
    if len(word) > 3 and word.endswith("s") and not word.endswith(("ss", "us", "is")):
        return word[:-1]
    return word


def keywords(text: str) -> dict[str, str]:
    """Normalised keyword -> the form the user wrote (first seen mid-sentence, else lowercase)."""
    found: dict[str, str] = {}
    for m in _WORD.finditer(text):
        raw = m.group()
        key = _stem(unidecode(raw).casefold().split("'")[0])
        if len(key) < 3 or key in _STOP:
            continue
        initial = bool(_SENTENCE_START.search(text[: m.start()]))
        surface = raw.lower() if initial else raw
        if key not in found or (found[key] == found[key].lower() and not initial):
            found[key] = surface
    return found


def _surface(forms: Sequence[str]) -> str:
    """How to show a keyword: a capitalised form someone wrote mid-sentence ("Angular", "SQL")
    wins; otherwise lowercase."""
    capital = [f for f in forms if f != f.lower()]
    return Counter(capital).most_common(1)[0][0] if capital else forms[0].lower()


def reasons(
    asks: Iterable[Row], notes: Iterable[Row], *, note_kind: str = REASON_NOTE
) -> list[dict[str, Any]]:
    """Reasons the other side gave, oldest first: from challenge asks where the user asked
    "why?" (and wrote the answer down) and from feedback replies kept as notes."""
    out = [
        {"at": when(a["at"]), "text": str(a["why"]), "source": "challenge"}
        for a in asks
        if a.get("asked_why") and str(a.get("why") or "").strip()
    ]
    out += [
        {"at": when(n["created_at"]), "text": str(n["text"]), "source": "feedback"}
        for n in notes
        if n.get("kind") == note_kind and str(n.get("text") or "").strip()
    ]
    return sorted(out, key=lambda r: r["at"])


def why_ledger(reason_rows: Sequence[Mapping[str, Any]], *, last: int = 5) -> dict[str, Any]:
    """Patterns in the newest `last` reasons: keywords that two or more of them share. Keywords
    found in exactly the same reasons are one theme ("experience" and "Angular"). Honest and
    simple on purpose: counting shared words, never guessing what was meant."""
    newest = list(reason_rows)[-last:][::-1]  # newest first
    found = [keywords(r["text"]) for r in newest]
    where: dict[str, list[int]] = defaultdict(list)
    for i, words in enumerate(found):
        for key in words:
            where[key].append(i)
    groups: dict[tuple[int, ...], list[str]] = defaultdict(list)
    for key, idx in where.items():
        if len(idx) >= 2:
            groups[tuple(idx)].append(key)
    themes = []
    for idx, keys in sorted(groups.items(), key=lambda g: (-len(g[0]), g[0])):
        order = list(found[idx[0]])  # as the newest reason with them says them
        keys = sorted(keys, key=order.index)[:3]
        words = [_surface([found[i][k] for i in idx]) for k in keys]
        themes.append({"words": words, "keys": keys, "count": len(idx)})
    return {
        "total": len(reason_rows),
        "considered": len(newest),
        "themes": themes[:2],
        "sources": sorted({r["source"] for r in newest}),
    }


def suggestion(themes: Sequence[Mapping[str, Any]], table: Sequence[Mapping[str, Any]]) -> Any:
    """The first entry of `table` (dialog data: {match: [words], say: ...}) whose words meet
    the top theme's keywords; an entry without `match` is the fallback."""
    if not themes:
        return None
    keys = {_stem(unidecode(str(k)).casefold()) for k in themes[0]["keys"]}
    fallback = None
    for entry in table:
        match = {_stem(unidecode(str(w)).casefold()) for w in entry.get("match") or ()}
        if not match:
            fallback = fallback or entry.get("say")
        elif match & keys:
            return entry.get("say")
    return fallback


# -- the Brief Resilience Scale ------------------------------------------------------------------

# Smith, B. W., Dalen, J., Wiggins, K., Tooley, E., Christopher, P., & Bernard, J. (2008). The
# Brief Resilience Scale: assessing the ability to bounce back. Int J Behav Med, 15(3), 194-200.
# Six statements answered 1 (strongly disagree) to 5 (strongly agree); items 2, 4 and 6 are
# worded the other way and reverse-scored; the score is the mean of the six. The item wording is
# in dialogs/resilience.yaml. A self-reflection aid here, never a diagnosis.
BRS_ITEMS = 6
BRS_REVERSED = frozenset({2, 4, 6})


def brs_score(answers: Sequence[int | str]) -> float:
    """The mean of the six answers with items 2, 4 and 6 reversed, to two decimals."""
    if len(answers) != BRS_ITEMS:
        raise ValueError(f"the BRS has {BRS_ITEMS} items, got {len(answers)} answers")
    total = 0
    for item, raw in enumerate(answers, start=1):
        value = int(raw)
        if not 1 <= value <= 5:
            raise ValueError(f"BRS answers are 1 to 5, item {item} was {value}")
        total += 6 - value if item in BRS_REVERSED else value
    return round(total / BRS_ITEMS, 2)


def brs_band(score: float) -> str:
    """The published bands: 1.00-2.99 low, 3.00-4.30 normal, 4.31-5.00 high resilience."""
    s = round(float(score), 2)
    if not 1.0 <= s <= 5.0:
        raise ValueError(f"a BRS score lies between 1 and 5, not {score}")
    if s < 3.0:
        return "low"
    return "normal" if s <= 4.3 else "high"


def brs_trend(checkins: Iterable[Row]) -> list[dict[str, Any]]:
    """Each BRS check-in, oldest first: its date, score and band."""
    out = []
    for row in _sorted(checkins, "at"):
        if row.get("scale", "brs") != "brs":
            continue
        score = brs_score(parse_answers(row.get("answers")))
        out.append(
            {"date": when(row["at"]).date().isoformat(), "score": score, "band": brs_band(score)}
        )
    return out


def parse_answers(value: Any) -> list[int]:
    """Check-in answers as stored (a JSON list, kept as encrypted text) or already a list."""
    items = json.loads(value) if isinstance(value, str) else list(value or ())
    return [int(v) for v in items]


# -- the whole report ----------------------------------------------------------------------------


def highlights(report: Mapping[str, Any]) -> list[str]:
    """Up to two true, encouraging things the data shows, most telling first. The dialog says
    each in words; a key is only here when its numbers are."""
    keys = []
    sting = report.get("sting")
    if sting and sting["end"] < sting["start"]:
        keys.append("sting_fell")
    if report["feelings"]["direction"] == "down":
        keys.append("intensity_down")
    if report["feelings"]["coping_helped"]:
        keys.append("coping_helped")
    if report["episodes"]["closed"]:
        keys.append("worked_through")
    if report["challenge"]["no"] or report["challenge"]["partial"]:
        keys.append("collected_noes")
    elif report["challenge"]["total"]:
        keys.append("asked")
    if report["actions"]["done"]:
        keys.append("actions_done")
    brs = report.get("resilience") or []
    if len(brs) >= 2 and brs[-1]["score"] > brs[0]["score"]:
        keys.append("resilience_up")
    return keys[:2]


def build_report(
    *,
    episodes: Iterable[Row] = (),
    feelings: Iterable[Row] = (),
    action_items: Iterable[Row] = (),
    asks: Iterable[Row] = (),
    notes: Iterable[Row] = (),
    checkins: Iterable[Row] = (),
    now: datetime,
    tz: tzinfo = UTC,
    suggestions: Sequence[Mapping[str, Any]] = (),
    reason_kind: str = REASON_NOTE,
) -> dict[str, Any]:
    """Everything /progress shows, as JSON-ready data for the dialog and the chart."""
    feelings = list(feelings)
    asks = list(asks)
    today = now.astimezone(tz).date()
    ledger = why_ledger(reasons(asks, notes, note_kind=reason_kind))
    ledger["suggestion"] = suggestion(ledger["themes"], suggestions)
    report: dict[str, Any] = {
        "episodes": episodes_summary(episodes, tz=tz),
        "feelings": intensity_trend(feelings, tz),
        "actions": action_counts(action_items, today),
        "challenge": challenge_stats(asks, today, tz),
        "sting": last_sting(feelings),
        "why": ledger,
        "resilience": brs_trend(checkins),
        "chart": {
            "intensity": [[at.isoformat(), v] for at, v, _ in intensity_points(feelings)],
            "sting": [
                [when(r["at"]).isoformat(), int(r["intensity"])]
                for r in _sorted(feelings, "at")
                if _is_sting(r.get("phase")) and r.get("intensity") is not None
            ],
            "weeks": asks_per_week(asks, today, tz),
        },
    }
    report["empty"] = not (
        report["episodes"]["total"]
        or report["feelings"]["count"]
        or report["challenge"]["total"]
        or sum(report["actions"].values())
        or report["resilience"]
        or report["why"]["total"]
    )
    report["highlights"] = highlights(report)
    return report
