"""Many workspaces: the OAuth install flow keeps each workspace's bot token in the database
(slack-sdk's installation store), and events and nudges for a workspace use its own token."""

from __future__ import annotations

import itertools
import re
import time
from collections.abc import AsyncIterator
from types import SimpleNamespace

import pytest
from aiohttp.test_utils import TestClient, TestServer

from bot.engine import Engine
from bot.events import ConversationKey, Reply
from bot.flows import Catalog
from bot.ports import Unreachable
from tests.slack.conftest import SECRET, Workspace, all_logs, settings
from tests.slack.fake_slack import FakeSlack, payload, visible

pytest.importorskip(
    "greenlet", reason="slack-sdk's SQLAlchemy stores import sqlalchemy.ext.asyncio (greenlet)"
)

from adapters.slack import build_runner

# slack-sdk 3.48 exchanges the code with aiohttp.BasicAuth, which aiohttp 3.14 deprecates;
# harmless until aiohttp 4, and not ours to change.
pytestmark = pytest.mark.filterwarnings("ignore:BasicAuth is deprecated:DeprecationWarning")

INSTALLED = payload("oauth_v2_access")
CLIENTS = itertools.count(1)
TEAM2 = INSTALLED["team"]["id"]
USER2 = "U0USER02"


@pytest.fixture
async def multi(
    fake_slack: FakeSlack, engine: Engine, catalog: Catalog, any_db_url: str
) -> AsyncIterator[Workspace]:
    """The install flow on SQLite and (in CI) PostgreSQL. slack-sdk's store keeps rows per
    client id: a fresh one per test keeps tests apart in a shared database."""
    app = SimpleNamespace(
        settings=settings(
            SLACK_CLIENT_ID=f"{time.time_ns()}.{next(CLIENTS)}",
            SLACK_CLIENT_SECRET="client-secret-for-tests",
            SLACK_SIGNING_SECRET=SECRET,
            SLACK_API_URL=fake_slack.base_url,
            DATABASE_URL=any_db_url,
        ),
        catalog=catalog,
        engine=engine,
    )
    runner = build_runner(app)
    await runner.open()
    async with TestClient(TestServer(runner.web_app())) as http:
        yield Workspace(fake_slack, runner, http, engine, None, None)  # type: ignore[arg-type]
    await runner.stop()


async def install(multi: Workspace) -> None:
    page = await multi.http.get("/slack/install")
    assert page.status == 200
    assert "https://slack.com/oauth/v2/authorize?state=" in await page.text()
    state = re.search(r"slack-app-oauth-state=([^;]+)", page.headers["Set-Cookie"]).group(1)
    done = await multi.http.get(
        f"/slack/oauth_redirect?code=a-code&state={state}",
        headers={"Cookie": f"slack-app-oauth-state={state}"},
    )
    assert done.status == 200, await done.text()


async def test_installing_keeps_the_workspaces_token_and_uses_it(multi: Workspace) -> None:
    with all_logs() as logs:
        await install(multi)
    assert INSTALLED["access_token"] not in logs.getvalue()
    assert "client-secret-for-tests" not in logs.getvalue()
    [exchange] = multi.fake.called("oauth.v2.access")
    assert exchange["code"] == "a-code"
    bot = await multi.runner.installs.async_find_bot(enterprise_id=None, team_id=TEAM2)
    assert bot is not None and bot.bot_token == INSTALLED["access_token"]

    envelope = multi.message_event("I didn't get the job", user=USER2)
    envelope["team_id"] = envelope["event"]["team"] = TEAM2
    envelope["authorizations"][0].update(team_id=TEAM2, user_id=INSTALLED["bot_user_id"])
    response = await multi.event(envelope)
    assert response.status == 200
    [posted] = [c for c in multi.fake.calls if c.method == "chat.postMessage"]
    assert posted.token == INSTALLED["access_token"]
    assert "What kind of rejection was it?" in visible(multi.fake.dm(USER2)[-1])
    stored = await multi.engine.store.export(f"slack:{TEAM2}:{USER2}")
    assert stored["conversation"]["step"] == "arrive.kind"

    await multi.runner.send(ConversationKey("slack", USER2, TEAM2), [Reply(text="Morning.")])
    assert multi.fake.calls[-1].token == INSTALLED["access_token"]


async def test_a_redirect_without_the_state_we_issued_installs_nothing(multi: Workspace) -> None:
    done = await multi.http.get("/slack/oauth_redirect?code=a-code&state=forged")
    assert done.status == 400
    assert multi.fake.called("oauth.v2.access") == []


async def test_a_workspace_that_never_installed_is_unreachable(multi: Workspace) -> None:
    with pytest.raises(Unreachable, match="not installed"):
        await multi.runner.send(ConversationKey("slack", USER2, "T0NEVER01"), [Reply(text="Hi")])


async def test_an_uninstalled_workspace_is_forgotten(multi: Workspace) -> None:
    await install(multi)
    envelope = {
        "token": "XXYYZZ",
        "team_id": TEAM2,
        "api_app_id": "A0APP001",
        "event": {"type": "app_uninstalled", "event_ts": "1700000000.000100"},
        "type": "event_callback",
        "event_id": "Ev0UNINST1",
        "event_time": 1700000000,
    }
    assert (await multi.event(envelope)).status == 200
    with pytest.raises(Unreachable):
        await multi.runner.send(ConversationKey("slack", USER2, TEAM2), [Reply(text="Hi")])
