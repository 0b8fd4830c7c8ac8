"""`agentcoach run` rebuilt line for line from handlers/cli.py `serve`, with a start-up change to try.

    python -m bench.restart_child [sweep-now]

With no flag it is `serve` as shipped (a control: it must time like the real process). `sweep-now` gives the
sweep job an explicit first run time of "now": PTB's `run_repeating(first=0)` sets the interval trigger's
start date when `post_init` runs, before the scheduler starts, so APScheduler puts the first run one interval
after that date instead of at once. Used by `bench.restart` only, to measure what the change would save; the
bot itself is not changed.
"""

from __future__ import annotations

import asyncio
import sys
from datetime import UTC, datetime

from bot.config import load_settings
from bot.db import engine_from_settings, session_factory
from bot.logs import configure_logging
from handlers.app import ALLOWED_UPDATES, AgentApplication, build_application, prepare
from handlers.cli import migrate
from handlers.context import Services
from handlers.delivery import SWEEP_INTERVAL_SECONDS, start_sweeping, sweep_tick

FLAGS = ("sweep-now",)


def serve(flags: set[str]) -> int:
    settings = load_settings()
    configure_logging(settings.log_level, [settings.token() or ""])
    asyncio.run(migrate(settings))
    engine = engine_from_settings(settings)
    services = Services(settings, session_factory(engine), settings.clock())
    token = settings.token()
    assert token is not None
    app = build_application(services, token=token, base_url=settings.telegram_api_base_url)

    async def dispose(_: AgentApplication) -> None:
        await engine.dispose()

    async def start(app: AgentApplication) -> None:
        assert app.job_queue is not None
        if "sweep-now" in flags:
            app.job_queue.run_repeating(
                sweep_tick,
                interval=SWEEP_INTERVAL_SECONDS,
                first=0,
                name="sweep",
                job_kwargs={
                    "max_instances": 1,
                    "coalesce": True,
                    "misfire_grace_time": None,
                    "next_run_time": datetime.now(UTC),
                },
            )
        else:
            start_sweeping(app)
        await prepare(app, background=True)

    app.post_init = start
    app.post_shutdown = dispose
    app.run_polling(allowed_updates=ALLOWED_UPDATES)
    return 0


def main(argv: list[str]) -> int:
    if set(argv) - set(FLAGS):
        print(__doc__, file=sys.stderr)
        return 2
    return serve(set(argv))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
