"""`rebound chat` as a user runs it: a real process, a real SQLite file, stdin and stdout."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bot.store.crypto import Cipher


def run(
    tmp_path: Path, lines: list[str], *args: str, env: dict | None = None
) -> subprocess.CompletedProcess:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("REBOUND_")}
    environ.update(
        DATABASE_URL=f"sqlite:///{tmp_path / 'chat.db'}", REBOUND_FILES_DIR=str(tmp_path / "files")
    )
    environ.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "bot.cli", "chat", *args],
        input="\n".join(lines) + "\n",
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=environ,
        timeout=60,
        check=False,
    )


def lines_of(result: subprocess.CompletedProcess) -> list[dict]:
    assert result.returncode == 0, result.stderr
    return [json.loads(line) for line in result.stdout.splitlines()]


def test_json_mode_answers_each_line_once_and_survives_bad_lines(tmp_path: Path) -> None:
    out = lines_of(
        run(
            tmp_path,
            [
                json.dumps({"user": "u1", "command": "rebound"}),
                "this is not json",
                json.dumps({"user": "u2", "text": "my pitch got turned down this morning"}),
                json.dumps({"user": "u1", "choice": "arrive.kind:pitch"}),
                json.dumps({"user": "u1", "text": "{{ 7*7 }}"}),
            ],
            "--json",
        )
    )
    assert len(out) == 5
    assert "What kind of rejection" in out[0]["replies"][0]["text"]
    assert {"id": "arrive.kind:job", "label": "A job application"} in out[0]["replies"][0][
        "choices"
    ]
    assert out[1]["error"].startswith("not valid JSON")
    assert "Thank you for telling me" in out[2]["replies"][0]["text"]
    assert "what did you put forward" in out[3]["replies"][0]["text"]
    assert all("safety" not in r for line in out if "replies" in line for r in line["replies"])


def test_quitting_mid_dialog_and_starting_again_continues(tmp_path: Path) -> None:
    first = lines_of(
        run(
            tmp_path,
            [
                json.dumps({"user": "u1", "command": "rebound"}),
                json.dumps({"user": "u1", "choice": "arrive.kind:let_go"}),
            ],
            "--json",
        )
    )
    assert "Losing a job" in first[-1]["replies"][0]["text"]
    again = lines_of(run(tmp_path, [json.dumps({"user": "u1", "command": "rebound"})], "--json"))
    texts = [r["text"] for r in again[0]["replies"]]
    assert texts[0] == "Welcome back. Here's where we left off."
    assert "Losing a job" in texts[1]


def test_export_writes_a_file_and_gives_its_path(tmp_path: Path) -> None:
    out = lines_of(
        run(
            tmp_path,
            [
                json.dumps({"user": "u1", "text": "the programme I applied to said no"}),
                json.dumps({"user": "u1", "choice": "arrive.kind:school"}),
                json.dumps({"user": "u1", "command": "export"}),
            ],
            "--json",
        )
    )
    files = sorted(r["file"]["path"] for r in out[2]["replies"] if "file" in r)
    assert [Path(f).suffix for f in files] == [".json", ".md"]
    data = json.loads(Path(files[0]).read_text())
    assert data["episodes"][0]["summary"] == "the programme I applied to said no"
    assert data["episodes"][0]["kind"] == "school"


def test_interactive_chat_numbers_options_and_keeps_place(tmp_path: Path) -> None:
    result = run(tmp_path, ["4", "I was let go from my job today", "skip"])
    assert result.returncode == 0, result.stderr
    assert "  4. Being let go" in result.stdout
    assert "how much does it sting right now" in result.stdout
    assert "Which of these fit right now?" in result.stdout
    assert "Take care." in result.stdout


@pytest.mark.parametrize("word", ["/quit", "/exit", " /Quit "])
def test_quit_leaves_the_chat_and_the_place_is_kept(tmp_path: Path, word: str) -> None:
    left = run(tmp_path, ["4", word, "I was let go from my job today"])
    assert left.returncode == 0, left.stderr
    assert "Take care." in left.stdout
    assert "I don't know" not in left.stdout
    assert "how much does it sting" not in left.stdout  # nothing after /quit was read

    back = run(tmp_path, ["I was let go from my job today"])
    assert "how much does it sting right now" in back.stdout


def test_a_bad_database_url_fails_fast_with_what_to_fix(tmp_path: Path) -> None:
    result = run(
        tmp_path,
        [],
        "--json",
        env={
            "DATABASE_URL": "postgresql+psycopg://x@127.0.0.1:1/none",
            "REBOUND_ENCRYPTION_KEY": Cipher.generate(),
        },
    )
    assert result.returncode == 2
    assert "cannot reach the database in DATABASE_URL" in result.stderr


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"DATABASE_URL": "not a url"}, "must be an SQLAlchemy URL"),
        (
            {"DATABASE_URL": "postgresql+psycopg://x@127.0.0.1:1/none"},
            "REBOUND_ENCRYPTION_KEY is required",
        ),
        ({"REBOUND_ENCRYPTION_KEY": "short"}, "not a valid key list"),
    ],
)
def test_operator_mistakes_say_what_to_fix(tmp_path: Path, env: dict, message: str) -> None:
    result = run(tmp_path, [], "--json", env=env)
    assert result.returncode == 2
    assert message in result.stderr
