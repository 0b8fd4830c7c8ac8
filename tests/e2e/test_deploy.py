"""docs/deploy.md's several-process deployment, run for real: the Bot API emulator posts Telegram's webhooks over
HTTPS to the real nginx serving the documented site (docs/deploy/nginx.conf, only its `# test:` lines replaced:
bench/nginx.py), which spreads them over two `agentcoach run --webhook` processes (the systemd unit's command
line: bench/webhooks.py) on one fresh PostgreSQL database.

What must hold across the two processes: agents onboard and answer a check-in whose updates alternate between the
processes (two answers sent at once included), and every answer is stored; follow-ups falling due while both
sweep are each sent once (counted at the emulator); a wrong or missing secret through nginx is 401 and changes
nothing; nginx's own limits (413, POST only, /metrics internal only) are what the documentation says.

Without nginx (Debian: `apt-get install nginx-light`) or PostgreSQL the tests skip locally and fail under CI.
"""

from __future__ import annotations

import asyncio
import http.client
import json
import re
import shutil
import signal
import subprocess
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from functools import partial
from pathlib import Path

import pytest
from sqlalchemy import select

from bench import database, nginx, webhooks
from bench.children import BotProcess
from bench.emulator import EmulatorUnavailable, launch
from bot.db import create_engine, session_factory
from bot.models import Agent, Reflection
from tests.e2e.conftest import TOKEN, Emulator, EmulatorServer, _end, _unavailable
from tests.e2e.test_crash_during_dispatch import AGENTS as NUDGED_AGENTS
from tests.e2e.test_crash_during_dispatch import FIRST_CHAT as FIRST_NUDGED_CHAT
from tests.e2e.test_crash_during_dispatch import FOLLOW_UPS_EACH, nudges_by_chat, seed
from tests.e2e.test_emulator import CASES, onboard

pytestmark = pytest.mark.e2e

WAIT = 90.0  # each wait; a shared two-core machine under load 10 needs it, a quiet one takes seconds
CHECK_IN_AGENTS = 4
FIRST_CHAT = 740001
# The check-in's typed answers after the first two (which are sent at once: "3" and "4").
WRITTEN = ("带看了两组客户", "回访不够及时", "先听完客户再说", "给王姐回电话")
# nginx's access log with the process each request went to.
UPSTREAM_LOG = re.compile(r'"POST /telegram HTTP/1\.1" (\d{3}) upstream=(\S+)')


@dataclass
class Deployment:
    """The emulator, nginx in front, and the two webhook processes on one database."""

    server: EmulatorServer
    proxy: nginx.Nginx
    processes: list[tuple[int, BotProcess]]
    database_url: str

    def client(self) -> Emulator:
        return self.server.client()

    def request(
        self, method: str, path: str, body: bytes | None = None, headers: dict[str, str] | None = None, source: str = ""
    ) -> tuple[int, bytes]:
        """One HTTPS request to nginx (certificate verified), from loopback address `source` if given."""
        connection = http.client.HTTPSConnection(
            "127.0.0.1",
            self.proxy.port,
            context=self.proxy.client_tls(),
            timeout=WAIT,
            source_address=(source, 0) if source else None,
        )
        try:
            connection.request(method, path, body=body, headers=headers or {})
            answer = connection.getresponse()
            return answer.status, answer.read()
        finally:
            connection.close()

    def upstreams(self) -> dict[str, int]:
        """How many webhook POSTs nginx passed to each process (by its address)."""
        counts: dict[str, int] = {}
        for _, upstream in UPSTREAM_LOG.findall((self.proxy.folder / "access.log").read_text(errors="replace")):
            counts[upstream] = counts.get(upstream, 0) + 1
        return counts

    def logs(self) -> str:
        parts = [
            f"===== {run.log_path.name} =====\n{run.log_path.read_text(errors='replace')}" for _, run in self.processes
        ]
        return "\n".join([*parts, f"===== nginx error.log =====\n{self.proxy.errors()}"])


@pytest.fixture(scope="module")
def deployment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    if shutil.which("nginx") is None and not Path("/usr/sbin/nginx").exists():
        _unavailable(
            "nginx is not installed (Debian: apt-get install nginx-light); the deployment test runs the real one"
        )
    folder = tmp_path_factory.mktemp("deploy")
    try:
        db = asyncio.run(database.create("postgresql", folder))
    except Exception as error:  # no server, no permission: the reason goes into the skip/fail line
        _unavailable(f"PostgreSQL at {database.POSTGRES_SERVER} is not usable: {error!r}")
    emulator: subprocess.Popen[bytes] | None = None
    processes: list[tuple[int, BotProcess]] = []
    proxy: nginx.Nginx | None = None
    try:
        (folder / "tls").mkdir()
        certificate = nginx.self_signed(folder / "tls")
        try:  # the emulator trusts the test certificate, as Telegram trusts a real one
            emulator, port, tg_user = launch(
                folder / "emulator.log", env_extra={"NODE_EXTRA_CA_CERTS": str(certificate[0])}
            )
        except EmulatorUnavailable as error:
            _unavailable(str(error))
        server = EmulatorServer(port, tg_user)
        server.client().reset()
        nginx_port = nginx.free_port()
        processes = webhooks.start(
            2,
            folder,
            token=TOKEN,
            database_url=db.url,
            api_base_url=f"{server.base}/bot",
            webhook_url=f"https://127.0.0.1:{nginx_port}/telegram",
        )
        proxy = nginx.start(folder / "nginx", [p for p, _ in processes], port=nginx_port, certificate=certificate)
        yield Deployment(server, proxy, processes, db.url)
    finally:
        webhooks.stop([run for _, run in processes])
        if proxy is not None:
            proxy.stop()
        if emulator is not None:
            _end(emulator, signal.SIGTERM, 5)
        asyncio.run(database.drop(db))


async def stored_reflections(url: str, chats: list[int]) -> dict[int, Reflection]:
    engine = create_engine(url)
    try:
        async with session_factory(engine)() as session:
            rows = await session.execute(
                select(Agent.chat_id, Reflection).join(Reflection).where(Agent.chat_id.in_(chats))
            )
            return {chat: reflection for chat, reflection in rows}
    finally:
        await engine.dispose()


def onboard_and_check_in(deployment: Deployment, chat: int) -> None:
    """One agent: onboarding, then a check-in whose first two answers are sent at once (they reach both
    processes together); the rest one by one."""
    emu = deployment.client()
    emu.set_user(chat, f"经纪人{chat}", language_code="zh-hans")
    onboard(deployment.server, emu, replace(CASES[0], chat=chat))
    emu.send_text(chat, "/reflect")
    [first] = emu.wait_replies(chat, 1, timeout=WAIT)
    assert str(first["text"]).startswith("（1/6）"), first["text"]
    emu.send_text(chat, "3")
    emu.send_text(chat, "4")

    def asked(number: int) -> bool:
        return any(str(m.get("text", "")).startswith(f"（{number}/6）") for m in emu.messages(chat))

    emu.wait_for(lambda: asked(3), WAIT, "the third question after two answers", chat)
    emu.wait_quiet(chat, quiet=0.3, timeout=WAIT)
    for number, answer in enumerate(WRITTEN, start=4):
        emu.send_text(chat, answer)
        if number <= 6:
            emu.wait_for(partial(asked, number), WAIT, f"question {number}", chat)
    emu.wait_for(
        lambda: any(str(m.get("text", "")).startswith("✅") for m in emu.messages(chat)), WAIT, "the saved line", chat
    )


def test_a_check_in_across_both_processes_keeps_every_answer(deployment: Deployment) -> None:
    chats = [FIRST_CHAT + i for i in range(CHECK_IN_AGENTS)]
    with ThreadPoolExecutor(CHECK_IN_AGENTS) as pool:
        list(pool.map(lambda chat: onboard_and_check_in(deployment, chat), chats))
    stored = asyncio.run(stored_reflections(deployment.database_url, chats))
    assert sorted(stored) == chats
    for chat, reflection in stored.items():
        assert reflection.status == "done" and reflection.step is None, (chat, reflection.status, reflection.step)
        # The two answers sent at once were applied one after the other, in either order; neither was lost.
        assert {reflection.clients, reflection.mood} == {3, 4}, (chat, reflection.clients, reflection.mood)
        assert (reflection.went_well, reflection.to_improve, reflection.lesson, reflection.tomorrow) == WRITTEN
    per_process = deployment.upstreams()
    assert len(per_process) == 2 and min(per_process.values()) >= 10, f"nginx spread the updates {per_process}"
    assert all(code == "200" for code, _ in UPSTREAM_LOG.findall((deployment.proxy.folder / "access.log").read_text()))


def test_follow_ups_falling_due_while_both_sweep_are_sent_once(deployment: Deployment) -> None:
    emu = deployment.client()
    asyncio.run(seed(deployment.database_url, datetime.now(UTC)))  # due from 30 s ago on, both processes running
    total = NUDGED_AGENTS * FOLLOW_UPS_EACH
    emu.wait_for(lambda: sum(nudges_by_chat(emu).values()) >= total, WAIT, f"{total} nudges")
    emu.wait_quiet(FIRST_NUDGED_CHAT + NUDGED_AGENTS - 1, quiet=3.0, timeout=WAIT)  # three sweeps of each process
    per_chat = nudges_by_chat(emu)
    expected = {FIRST_NUDGED_CHAT + i: FOLLOW_UPS_EACH for i in range(NUDGED_AGENTS)}
    assert {chat: n for chat, n in per_chat.items() if chat in expected} == expected


def test_a_wrong_or_missing_secret_through_nginx_is_401_and_changes_nothing(deployment: Deployment) -> None:
    emu = deployment.client()
    chat = FIRST_CHAT
    emu.wait_quiet(chat, quiet=0.5, timeout=WAIT)
    before = len(emu.messages(chat))
    update = {
        "update_id": 990001,
        "message": {
            "message_id": 990001,
            "date": int(datetime.now(UTC).timestamp()),
            "chat": {"id": chat, "type": "private"},
            "from": {"id": chat, "is_bot": False, "first_name": "x"},
            "text": "/tip",
            "entities": [{"type": "bot_command", "offset": 0, "length": 4}],
        },
    }
    body = json.dumps(update).encode()
    json_type = {"Content-Type": "application/json"}
    wrong = {**json_type, "X-Telegram-Bot-Api-Secret-Token": "not-the-secret"}
    assert deployment.request("POST", "/telegram", body, wrong)[0] == 401
    assert deployment.request("POST", "/telegram", body, json_type)[0] == 401
    emu.wait_quiet(chat, quiet=1.0, timeout=WAIT)
    assert len(emu.messages(chat)) == before, "a refused update must change nothing"
    # The right secret, straight to nginx, is the same update applied.
    right = {**json_type, "X-Telegram-Bot-Api-Secret-Token": webhooks.SECRET}
    assert deployment.request("POST", "/telegram", body, right)[0] == 200
    assert len(emu.messages(chat)) > before, "answered 200 only once the reply was sent"


def test_nginx_limits_are_the_documented_ones(deployment: Deployment) -> None:
    secret = {"X-Telegram-Bot-Api-Secret-Token": webhooks.SECRET, "Content-Type": "application/json"}
    assert deployment.request("POST", "/telegram", b"{" + b" " * 1_048_576 + b"}", secret)[0] == 413
    assert deployment.request("GET", "/telegram")[0] == 403
    assert deployment.request("GET", "/anything/else")[0] == 404
    status, health = deployment.request("GET", "/healthz")
    assert status == 200 and json.loads(health)["database"] == "ok", health
    status, metrics = deployment.request("GET", "/metrics")
    assert status == 200 and b"# TYPE" in metrics
    # 127.0.0.2 is loopback too, but outside the `allow` list: as a request from the internet would be.
    assert deployment.request("GET", "/metrics", source="127.0.0.2")[0] == 403
    assert deployment.request("GET", "/healthz", source="127.0.0.2")[0] == 200


def test_both_processes_stop_cleanly_without_a_traceback(deployment: Deployment) -> None:
    statuses = webhooks.stop([run for _, run in deployment.processes])
    assert statuses == [0, 0], deployment.logs()
    assert "Traceback" not in deployment.logs()
