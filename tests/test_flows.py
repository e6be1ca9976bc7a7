"""Broken dialog files fail at load, naming the file and step; the real dialogs load clean."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from bot.cli import main
from bot.flows import REQUIRED_TEXTS, FlowError, load_catalog

SYSTEM = {"texts": {key: f"text {key}" for key in REQUIRED_TEXTS}}


def write(tmp_path: Path, **flows: dict) -> Path:
    (tmp_path / "system.yaml").write_text(yaml.safe_dump(SYSTEM))
    for name, doc in flows.items():
        (tmp_path / f"{name}.yaml").write_text(yaml.safe_dump({"flow": name, **doc}))
    return tmp_path


def good_flow() -> dict:
    return {
        "command": "rebound",
        "steps": {
            "ask": {
                "say": "What kind?",
                "ask": "choice",
                "save_as": "kind",
                "options": {"a": "A", "b": "B"},
                "next": "done",
            },
            "done": {"say": "You picked {{ kind }}.", "next": "end"},
        },
    }


def problems(tmp_path: Path) -> str:
    with pytest.raises(FlowError) as info:
        load_catalog(tmp_path, actions={"open_episode": frozenset()})
    return str(info.value)


def test_the_shipped_dialogs_load(catalog) -> None:
    assert {"arrive", "feel", "reflect", "plan", "challenge", "practice"} <= catalog.flows.keys()


def test_a_good_minimal_flow_loads(tmp_path: Path) -> None:
    cat = load_catalog(write(tmp_path, arrive=good_flow()), actions={})
    assert cat.commands == {"rebound": "arrive"}


def test_unknown_step_is_named_with_file_and_step(tmp_path: Path) -> None:
    flow = good_flow()
    flow["steps"]["done"]["next"] = "nowhere"
    assert "arrive.yaml: step 'arrive.done': goes to unknown step 'arrive.nowhere'" in problems(
        write(tmp_path, arrive=flow)
    )


def test_unreachable_step(tmp_path: Path) -> None:
    flow = good_flow()
    flow["steps"]["orphan"] = {"say": "nobody comes here", "next": "end"}
    assert "step 'arrive.orphan': is unreachable" in problems(write(tmp_path, arrive=flow))


def test_undefined_template_variable(tmp_path: Path) -> None:
    flow = good_flow()
    flow["steps"]["done"]["say"] = "You picked {{ knid }}."
    assert "uses undefined variable 'knid'" in problems(write(tmp_path, arrive=flow))


def test_template_syntax_error(tmp_path: Path) -> None:
    flow = good_flow()
    flow["steps"]["done"]["say"] = "You picked {{ kind "
    assert "template syntax error" in problems(write(tmp_path, arrive=flow))


def test_missing_engine_text(tmp_path: Path) -> None:
    write(tmp_path, arrive=good_flow())
    texts = dict(SYSTEM["texts"])
    del texts["too_long"]
    (tmp_path / "system.yaml").write_text(yaml.safe_dump({"texts": texts}))
    assert "the engine needs a text named 'too_long'" in problems(tmp_path)


def test_loop_that_never_waits_for_the_user(tmp_path: Path) -> None:
    flow = good_flow()
    flow["steps"]["done"]["next"] = "again"
    flow["steps"]["again"] = {"say": "and again", "next": "done"}
    assert "loop without waiting for the user" in problems(write(tmp_path, arrive=flow))


def test_unknown_action_and_unknown_ask(tmp_path: Path) -> None:
    flow = good_flow()
    flow["steps"]["done"]["do"] = ["launch_rockets"]
    flow["steps"]["ask"]["ask"] = "telepathy"
    found = problems(write(tmp_path, arrive=flow))
    assert "unknown action 'launch_rockets'" in found
    assert "unknown ask 'telepathy'" in found


def test_bad_yaml_names_the_file(tmp_path: Path) -> None:
    write(tmp_path, arrive=good_flow())
    (tmp_path / "broken.yaml").write_text("flow: [unclosed\n")
    assert "broken.yaml: not valid YAML" in problems(tmp_path)


def test_rebound_check_fails_fast_on_a_broken_dialog(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    flow = good_flow()
    flow["steps"]["done"]["next"] = "nowhere"
    monkeypatch.setenv("REBOUND_DIALOGS_DIR", str(write(tmp_path, arrive=flow)))
    assert main(["check"]) == 2
    assert "arrive.nowhere" in capsys.readouterr().err


def test_rebound_check_passes_on_the_shipped_dialogs(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check"]) == 0
    assert "dialogs ok" in capsys.readouterr().out
