"""Pure translation of engine replies into Slack messages, modals and the App Home view.

Every piece of text Rebound sends goes through `escape`, so whatever a user typed (`<!channel>`,
`<@U123>`, `&lt;`) is shown as text and pings nobody. Slack's limits are respected here: 3000
characters a section, 50 blocks a message, 75 characters a button.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from adapters.slack.mapping import (
    CHOICE,
    DRAFT,
    FORM,
    FORM_INPUT,
    MULTI,
    PREFIX,
    SELECT,
    SUBMIT,
    FormRequest,
)
from bot.events import Breathing, Choice, FileOut, Form, Reply

MAX_SECTION = 3000
MAX_BLOCKS = 50
MAX_HOME_BLOCKS = 100
MAX_BUTTON_TEXT = 75
MAX_BUTTONS = 6  # more choices than this become a select menu
MAX_SELECT = 100
MAX_CHECKBOXES = 10
MAX_VALUE = 2000  # a button's value
MAX_OPTION_VALUE = 150
MAX_ELEMENTS = 25  # per actions block
MAX_INPUT = 3000
MAX_MODAL_TITLE = 24
MAX_FALLBACK = 3000
ANSWERED = "rebound.answered"

# The adapter's own few words (the engine's sentences live in dialogs/).
UI = {
    "choose": "Choose one…",
    "done": "Done",
    "save": "Save",
    "cancel": "Cancel",
    "or_type": "Or simply reply here in a message.",
    "chose": "You chose: {labels}",
    "nothing": "nothing yet",
    "saved": "✓ Saved from the form",
    "breath_in": "*Breath {n} of {count}:* breathe in…",
    "breath_out": "*Breath {n} of {count}:* and slowly out…",
    "breaths_done": "That's {count} breaths. Well done.",
}


def escape(text: str) -> str:
    """Slack's three control characters as entities: nothing a user typed can become a mention,
    a channel ping or a link."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


_URL = re.compile(r"https?://(?:(?!&lt;|&gt;)[^\s|])+")
_URL_TAIL = ".,;:!?)*_'\""


def _link(match: re.Match[str]) -> str:
    url = match.group(0)
    tail = len(url) - len(url.rstrip(_URL_TAIL))
    return f"<{url[: len(url) - tail]}>{url[len(url) - tail :]}" if tail else f"<{url}>"


def mrkdwn(text: str) -> str:
    """The engine's markup (`*bold*`, `_italic_`, `> ` quotes, `- ` bullets) as Slack mrkdwn.
    Bold, italics and quotes (`&gt; ` at a line start) are the same in Slack; bullets get a dot.
    Text objects are sent `verbatim` (Slack then parses no mention by itself), so web addresses
    are made links here: a helpline's address must be one tap away."""
    lines = []
    for line in text.split("\n"):
        if line.startswith("- "):
            line = "• " + line[2:]
        lines.append(_URL.sub(_link, escape(line)))
    return "\n".join(lines)


def text_object(mrkdwn_text: str) -> dict[str, Any]:
    return {"type": "mrkdwn", "text": mrkdwn_text, "verbatim": True}


def bounded(value: str, limit: int) -> str:
    """Cut to one of Slack's limits, marking the cut."""
    return value if len(value) <= limit else value[: limit - 1] + "…"


def _plain(text: str, limit: int = MAX_BUTTON_TEXT) -> dict[str, Any]:
    return {"type": "plain_text", "text": bounded(text, limit), "emoji": True}


def _chunks(text: str, limit: int) -> list[str]:
    """Split already-converted mrkdwn at line breaks (or, for one huge line, at spaces) so that
    each piece fits; never inside an entity such as `&amp;`."""
    pieces: list[str] = []
    current = ""
    for line in text.split("\n"):
        while len(line) > limit:
            cut = line.rfind(" ", 0, limit)
            amp = line.rfind("&", 0, limit)
            if cut <= 0:
                cut = amp if limit - amp < 6 and amp > 0 else limit
            if current:
                pieces.append(current)
                current = ""
            pieces.append(line[:cut])
            line = line[cut:].lstrip(" ")
        candidate = f"{current}\n{line}" if current else line
        if len(candidate) > limit:
            pieces.append(current)
            current = line
        else:
            current = candidate
    if current.strip():
        pieces.append(current)
    return [p for p in pieces if p.strip()]


def sections(text: str) -> list[dict[str, Any]]:
    return [
        {"type": "section", "text": text_object(piece)}
        for piece in _chunks(mrkdwn(text), MAX_SECTION)
    ]


def _button(action_id: str, choice: Choice) -> dict[str, Any]:
    return {
        "type": "button",
        "action_id": action_id,
        "text": _plain(choice.label),
        "value": choice.id,
    }


def _option(choice: Choice) -> dict[str, Any]:
    return {"text": _plain(choice.label), "value": choice.id}


def _is_compact(choices: tuple[Choice, ...]) -> bool:
    """A scale such as 1 to 10: short labels that sit well as rows of buttons."""
    return len(choices) <= 25 and all(len(c.label) <= 4 for c in choices)


def choice_blocks(choices: tuple[Choice, ...], *, start: int = 0) -> list[dict[str, Any]]:
    """Buttons, rows of five for a short scale, or a select menu when there are many."""
    if not choices:
        return []
    fits_select = all(len(c.id) <= MAX_OPTION_VALUE for c in choices)
    if len(choices) > MAX_BUTTONS and not _is_compact(choices) and fits_select:
        return [
            {
                "type": "actions",
                "block_id": "rebound.choices",
                "elements": [
                    {
                        "type": "static_select",
                        "action_id": SELECT,
                        "placeholder": _plain(UI["choose"]),
                        "options": [_option(c) for c in choices[:MAX_SELECT]],
                    }
                ],
            }
        ]
    per_row = 5 if len(choices) > MAX_BUTTONS else 25
    return [
        {
            "type": "actions",
            "block_id": f"rebound.choices.{row}",
            "elements": [
                _button(f"{CHOICE}{start + row * per_row + i}", c)
                for i, c in enumerate(choices[row * per_row : (row + 1) * per_row])
            ],
        }
        for row in range((len(choices) + per_row - 1) // per_row)
    ]


def _is_command(choice: Choice) -> bool:
    return choice.id.startswith(("cmd:", "timer:"))


def multi_blocks(choices: tuple[Choice, ...]) -> list[dict[str, Any]]:
    """Checkboxes (ten to a group) and a Done button that sends every ticked option at once."""
    # An id too long for a checkbox value becomes a button of its own (still reachable).
    boxes = [c for c in choices if not _is_command(c) and len(c.id) <= MAX_OPTION_VALUE]
    others = tuple(c for c in choices if c not in boxes)
    blocks: list[dict[str, Any]] = [
        {
            "type": "actions",
            "block_id": f"{MULTI}{k}",
            "elements": [
                {
                    "type": "checkboxes",
                    "action_id": f"{MULTI}{k}",
                    "options": [_option(c) for c in boxes[k : k + MAX_CHECKBOXES]],
                }
            ],
        }
        for k in range(0, len(boxes), MAX_CHECKBOXES)
    ]
    done = {
        "type": "button",
        "action_id": SUBMIT,
        "text": _plain(UI["done"]),
        "style": "primary",
        "value": "done",
    }
    extra = [_button(f"{CHOICE}{i}", c) for i, c in enumerate(others)]
    return blocks + _action_rows(SUBMIT, [done, *extra] if boxes else extra)


def _action_rows(block_id: str, elements: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Actions blocks of at most 25 elements each (Slack's limit), with unique block ids."""
    return [
        {
            "type": "actions",
            "block_id": block_id if k == 0 else f"{block_id}.{k}",
            "elements": elements[k : k + MAX_ELEMENTS],
        }
        for k in range(0, len(elements), MAX_ELEMENTS)
    ]


def form_blocks(form: Form, choices: tuple[Choice, ...]) -> list[dict[str, Any]]:
    """A form is a button that opens a modal. A draft to edit is shown as plain text (never
    parsed, so nothing in it can ping) and read back from the message when the button is
    pressed; the button's value carries the rest."""
    blocks: list[dict[str, Any]] = [
        {"type": "section", "block_id": f"{DRAFT}{i}", "text": {"type": "plain_text", "text": part}}
        for i, part in enumerate(_draft_parts(form.initial))
    ]
    meta = {
        "s": form.submit_id,
        "t": form.title,
        "l": bounded(form.label, 500),
        "m": form.multiline,
        "x": form.max_length,
    }
    button = {
        "type": "button",
        "action_id": FORM,
        "text": _plain("✏️ " + form.title),
        "style": "primary",
        "value": json.dumps(meta, ensure_ascii=False)[:MAX_VALUE],
    }
    extra = [_button(f"{CHOICE}{i}", c) for i, c in enumerate(choices)]
    blocks += _action_rows(FORM, [button, *extra])
    blocks.append(_context(UI["or_type"], "rebound.hint"))
    return blocks


def _draft_parts(initial: str) -> list[str]:
    text = initial[:MAX_INPUT]
    return [text[i : i + MAX_SECTION] for i in range(0, len(text), MAX_SECTION)]


def _context(mrkdwn_text: str, block_id: str | None = None) -> dict[str, Any]:
    block: dict[str, Any] = {
        "type": "context",
        "elements": [text_object(mrkdwn_text)],
    }
    if block_id:
        block["block_id"] = block_id
    return block


def reply_blocks(reply: Reply) -> list[dict[str, Any]]:
    blocks = sections(reply.text) if reply.text else []
    if reply.form:
        blocks += form_blocks(reply.form, reply.choices)
    elif reply.multi:
        blocks += multi_blocks(reply.choices)
    else:
        blocks += choice_blocks(reply.choices)
    return blocks


# -- what to send, in order --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Post:
    text: str  # the notification and screen-reader fallback, escaped like the blocks
    blocks: list[dict[str, Any]]


@dataclass(frozen=True, slots=True)
class Breathe:
    breathing: Breathing


@dataclass(frozen=True, slots=True)
class Upload:
    file: FileOut


def plan(replies: list[Reply]) -> list[Post | Breathe | Upload]:
    """Turn replies into messages. Consecutive replies share one message until one asks
    something (its buttons then end the message, so answering updates only that one); a
    breathing exercise and a file come in their place in the order."""
    out: list[Post | Breathe | Upload] = []
    blocks: list[dict[str, Any]] = []
    texts: list[str] = []

    def flush() -> None:
        if blocks:
            fallback = bounded(escape("\n\n".join(t for t in texts if t)), MAX_FALLBACK)
            out.append(Post(text=fallback or "Rebound", blocks=list(blocks)))
        blocks.clear()
        texts.clear()

    for reply in replies:
        new = reply_blocks(reply)
        if blocks and len(blocks) + len(new) > MAX_BLOCKS:
            flush()
        while len(new) > MAX_BLOCKS:  # a very long text: several messages
            blocks.extend(new[:MAX_BLOCKS])
            texts.append(reply.text)
            new = new[MAX_BLOCKS:]
            flush()
        blocks.extend(new)
        texts.append(reply.text)
        if reply.choices or reply.form:
            flush()
        if reply.breathing:
            flush()
            out.append(Breathe(reply.breathing))
        if reply.file:
            flush()
            out.append(Upload(reply.file))
    flush()
    return out


def breath(b: Breathing, n: int, phase: str) -> tuple[str, list[dict[str, Any]]]:
    """One frame of the paced breathing message: `phase` is "in", "out" or "done"."""
    if phase == "done":
        text = UI["breaths_done"].format(count=b.count)
        dots = "●" * b.count
    else:
        text = UI["breath_in" if phase == "in" else "breath_out"].format(n=n, count=b.count)
        dots = "●" * (n - 1) + ("◐" if phase == "in" else "◑") + "○" * (b.count - n)
    blocks = [
        {"type": "section", "text": text_object(text)},
        _context(dots),
    ]
    return text.replace("*", ""), blocks


# -- updating a message once it has been answered --------------------------------------------


def answered(blocks: list[dict[str, Any]], note: str) -> list[dict[str, Any]]:
    """The message as it was, without its buttons, and a line saying what was chosen: an old
    button can then not be pressed a second time."""
    kept = [
        b
        for b in blocks
        if not str(b.get("block_id", "")).startswith(PREFIX)
        or str(b.get("block_id", "")).startswith(DRAFT)
    ]
    return [*kept, _context(note, ANSWERED)]


def chose_note(labels: list[str]) -> str:
    shown = ", ".join(f"*{escape(label)}*" for label in labels if label) or UI["nothing"]
    return UI["chose"].format(labels=shown)


# -- modals and the App Home tab -------------------------------------------------------------


def modal(request: FormRequest) -> dict[str, Any]:
    """The modal for a form: one text input, the draft already in it."""
    element: dict[str, Any] = {
        "type": "plain_text_input",
        "action_id": FORM_INPUT,
        "multiline": request.multiline,
        "max_length": max(1, min(request.max_length, MAX_INPUT)),
        "focus_on_load": True,
    }
    if request.initial:
        element["initial_value"] = request.initial[:MAX_INPUT]
    blocks: list[dict[str, Any]] = []
    if len(request.title) > MAX_MODAL_TITLE:
        blocks.append(sections(f"*{request.title}*")[0])
    blocks.append(
        {
            "type": "input",
            "block_id": FORM,
            "label": _plain(request.label or request.title, 2000),
            "element": element,
        }
    )
    return {
        "type": "modal",
        "callback_id": FORM,
        "title": _plain(request.title or "Rebound", MAX_MODAL_TITLE),
        "submit": _plain(UI["save"], MAX_MODAL_TITLE),
        "close": _plain(UI["cancel"], MAX_MODAL_TITLE),
        "private_metadata": json.dumps(
            {"s": request.submit_id, "c": request.channel, "ts": request.ts}
        ),
        "blocks": blocks,
    }


def home_view(reply: Reply) -> dict[str, Any]:
    """The App Home tab: the engine's summary and a button for each stage."""
    blocks = sections(reply.text) if reply.text else []
    for k in range(0, len(reply.choices), 25):
        row = reply.choices[k : k + 25]
        blocks.append(
            {
                "type": "actions",
                "block_id": f"rebound.home.{k}",
                "elements": [_button(f"{CHOICE}{k + i}", c) for i, c in enumerate(row)],
            }
        )
    return {"type": "home", "blocks": blocks[:MAX_HOME_BLOCKS]}
