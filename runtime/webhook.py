"""Telegram's webhook as an ASGI app (Starlette, served by uvicorn in `agentcoach run --webhook`).

Telegram POSTs each update to the path of WEBHOOK_URL with the secret given at setWebhook in the
`X-Telegram-Bot-Api-Secret-Token` header. The request is checked in order of cost: the secret (401, before a byte
of the body is read), the size (413: Content-Length first, then counted while the body streams in, so no request
can make the process hold more than WEBHOOK_MAX_BODY_BYTES), then the JSON (400 unless it is an object that reads
as an Update). A good update is handled inside the request and answered 200 only once the handlers are done: an
update Telegram sees acknowledged has been applied, and one that timed out is sent again (the Application drops
the repeat by update_id). Refusals are one log line without the body, never a traceback.

`/healthz` says whether this process can serve: the database answers `SELECT 1` and the engine swept lately
(runtime.delivery records each sweep). `/metrics` is Prometheus' text format (runtime.metrics).
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import signal
import socket
import time
from datetime import UTC, datetime
from types import FrameType
from typing import Any

import uvicorn
from sqlalchemy import text
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from telegram import Update
from telegram.error import TelegramError

from bot.config import Settings
from handlers.context import SERVICES_KEY, Services
from runtime.app import ALLOWED_UPDATES, AgentApplication
from runtime.delivery import LAST_SWEEP_KEY
from runtime.metrics import exposition

log = logging.getLogger(__name__)

SECRET_HEADER = "x-telegram-bot-api-secret-token"
# The sweep ticks every second; a process whose last sweep is older than this is stuck or lost its database.
SWEEP_MAX_AGE_SECONDS = 30.0
# /healthz answers within this even when the database hangs (a load balancer's probe has its own timeout).
HEALTH_TIMEOUT_SECONDS = 5.0
# In-flight updates get this long to finish after SIGTERM before the server closes their connections.
GRACEFUL_SECONDS = 10.0


class CannotServe(Exception):
    """The webhook cannot start (the port is taken, Telegram refused setWebhook): one line for the operator."""


class _Refused(Exception):
    """A request answered with a 4xx: its status and the one line logged about it."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status, self.reason = status, reason


def webhook_app(
    app: AgentApplication, settings: Settings, *, sweep_max_age: float = SWEEP_MAX_AGE_SECONDS
) -> Starlette:
    """The ASGI app for `app`: the webhook on settings.webhook_path(), /healthz and /metrics."""
    secret = (settings.webhook_secret() or "").encode()
    limit = settings.webhook_max_body_bytes

    async def receive_update(request: Request) -> Response:
        try:
            if not secret or not hmac.compare_digest(request.headers.get(SECRET_HEADER, "").encode(), secret):
                raise _Refused(401, "no valid secret token")
            update = _as_update(await _update_json(request, limit), app)
        except _Refused as refused:
            log.warning("webhook: refused a request (%d): %s", refused.status, refused.reason)
            return Response(status_code=refused.status)
        try:
            await app.process_update(update)
        except Exception:  # the handlers' own errors go to handlers.errors; this is the process failing
            log.exception("webhook: update %d failed; Telegram will send it again", update.update_id)
            return Response(status_code=500)
        return Response(status_code=200)

    async def healthz(request: Request) -> Response:
        database = await _database_problem(app)
        last: float | None = app.bot_data.get(LAST_SWEEP_KEY)
        age = time.time() - last if last is not None else None
        body: dict[str, Any] = {
            "database": database or "ok",
            "last_sweep": datetime.fromtimestamp(last, UTC).isoformat() if last is not None else None,
            "sweep_age_s": round(age, 3) if age is not None else None,
        }
        if age is None or age > sweep_max_age:
            body["sweep"] = "not run yet" if age is None else f"older than {sweep_max_age:g} s"
        healthy = database is None and "sweep" not in body
        return JSONResponse(body, status_code=200 if healthy else 503)

    async def metrics(request: Request) -> Response:
        body, content_type = exposition()
        return Response(body, headers={"Content-Type": content_type})

    return Starlette(
        routes=[
            Route(settings.webhook_path(), receive_update, methods=["POST"]),
            Route("/healthz", healthz, methods=["GET"]),
            Route("/metrics", metrics, methods=["GET"]),
        ]
    )


async def _update_json(request: Request, limit: int) -> dict[str, Any]:
    """The body as a JSON object shaped like an Update, read at most `limit` bytes far."""
    declared = request.headers.get("content-length")
    if declared is not None:
        if not (declared.isascii() and declared.isdigit()):
            raise _Refused(400, "malformed Content-Length")
        if len(declared) > 12 or int(declared) > limit:  # 12 digits: no int() of a 5,000-digit number
            raise _Refused(413, f"body of {declared} bytes is over the limit of {limit}")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise _Refused(413, f"body over the limit of {limit} bytes")
        chunks.append(chunk)
    try:
        data = json.loads(b"".join(chunks))
    except ValueError:  # JSONDecodeError and UnicodeDecodeError both are
        raise _Refused(400, "the body is not JSON") from None
    if not isinstance(data, dict):
        raise _Refused(400, f"the body is a JSON {type(data).__name__}, not an object")
    update_id = data.get("update_id")
    if not isinstance(update_id, int) or isinstance(update_id, bool):
        raise _Refused(400, "the body is not an update (no integer update_id)")
    return data


def _as_update(data: dict[str, Any], app: AgentApplication) -> Update:
    try:
        return Update.de_json(data, app.bot)
    except Exception as error:  # whatever a malformed nested object makes PTB raise, it is the sender's fault
        raise _Refused(400, f"the body is not an update ({type(error).__name__})") from None


async def _database_problem(app: AgentApplication) -> str | None:
    """None when the database answers `SELECT 1` in time, else what went wrong (the exception's name)."""
    services: Services = app.bot_data[SERVICES_KEY]
    try:
        async with asyncio.timeout(HEALTH_TIMEOUT_SECONDS), services.sessions() as session:
            await session.execute(text("SELECT 1"))
    except Exception as error:  # any driver's way of saying the database is not there
        return f"unreachable ({type(error).__name__})"
    return None


async def run_webhook(app: AgentApplication, settings: Settings, *, listen: str, port: int) -> None:
    """Serve until SIGTERM or SIGINT, with the lifecycle `Application.run_polling` has (initialize, post_init,
    start … stop, shutdown, post_shutdown) but uvicorn in place of the Updater.

    The port is bound before setWebhook, so Telegram's first POST finds it open. On a signal uvicorn stops
    accepting, lets in-flight updates finish (GRACEFUL_SECONDS at most), and only then the Application stops. The
    webhook stays set: Telegram keeps the updates for this or another process while this one restarts."""
    server = uvicorn.Server(server_config(webhook_app(app, settings), listen, port))

    def stop(signum: int, frame: FrameType | None) -> None:
        server.should_exit = True

    # uvicorn installs its own handlers while it serves and raises the signal again once it has stopped; these
    # make that a no-op (instead of the default death before the clean-up) and stop a start-up still under way.
    previous = {signum: signal.signal(signum, stop) for signum in (signal.SIGTERM, signal.SIGINT)}
    await app.initialize()
    try:
        if app.post_init is not None:
            await app.post_init(app)
        await app.start()
        listening = _listening_socket(listen, port)
        try:
            await _set_webhook(app, settings)
            log.info(
                "serving Telegram's webhook on %s:%d%s for %s",
                listen,
                port,
                settings.webhook_path(),
                settings.webhook_url,
            )
            await server.serve(sockets=[listening])
        finally:
            listening.close()
    finally:
        if app.running:
            await app.stop()
        await app.shutdown()
        if app.post_shutdown is not None:
            await app.post_shutdown(app)
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def server_config(asgi: Starlette, listen: str, port: int) -> uvicorn.Config:
    """uvicorn as webhook mode runs it (bench/webhook_server.py measures the same)."""
    return uvicorn.Config(
        asgi,
        host=listen,
        port=port,
        http="httptools",  # C parser: a third less CPU per request than h11 (docs/benchmarks.md)
        lifespan="off",  # the Application's life is run around the server (run_webhook)
        log_config=None,  # keep the process' logging (bot.logs), tokens redacted
        access_log=False,  # one line per update comes from the Application; none for 200s here
        server_header=False,
        timeout_graceful_shutdown=int(GRACEFUL_SECONDS),
    )


def _listening_socket(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        return socket.create_server((host, port), family=family)
    except OSError as error:
        raise CannotServe(f"cannot listen on {host}:{port}: {error.strerror or error}") from None


async def _set_webhook(app: AgentApplication, settings: Settings) -> None:
    assert settings.webhook_url is not None
    try:
        await app.bot.set_webhook(
            url=settings.webhook_url,
            secret_token=settings.webhook_secret(),
            allowed_updates=ALLOWED_UPDATES,
            max_connections=settings.webhook_max_connections,
            drop_pending_updates=False,
        )
    except TelegramError as error:
        raise CannotServe(f"setWebhook failed: {error.message}") from None
