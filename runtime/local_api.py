"""An in-process stand-in for Telegram's Bot API, and an agent who chats through it.

`LocalBotAPI` is a python-telegram-bot request object: the real `Bot` and the real handlers run unchanged,
and every Bot API call is answered here the way Telegram answers it (Message objects, edits, the 64-byte
callback limit, "message is not modified", malformed HTML) and recorded. `LocalChat` plays the agent:
it types text and presses buttons and returns what the bot showed. The `agentcoach shell` and the tests
both use them, so what a newcomer tries in the terminal is exactly what the tests check.
"""

from __future__ import annotations

import html
import itertools
import json
import mimetypes
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from html.parser import HTMLParser
from typing import Any

from telegram import Update
from telegram.ext import Application
from telegram.request import BaseRequest, RequestData

BOT_USER = {
    "id": 7000000001,
    "is_bot": True,
    "first_name": "AgentCoach",
    "username": "agentcoach_bot",
    "can_join_groups": False,
    "can_read_all_group_messages": False,
    "supports_inline_queries": False,
}
MESSAGE_LIMIT = 4096
DOWNLOAD_LIMIT = 20 * 1024 * 1024  # the most getFile serves a bot on Telegram's own servers
FILE_ROUTE = "/file/bot"  # where file bytes are served: <base file url>/<token>/<file_path>
FILES = "_files"  # the key under which a call's uploads are kept in its recorded parameters
CALLBACK_LIMIT = 64
_ALLOWED_TAGS = {
    "b",
    "strong",
    "i",
    "em",
    "u",
    "ins",
    "s",
    "strike",
    "del",
    "code",
    "pre",
    "a",
    "tg-spoiler",
    "blockquote",
    "span",
}


@dataclass(frozen=True)
class ApiCall:
    method: str
    params: dict[str, Any]
    ok: bool = True


@dataclass
class Shown:
    """A bot message as the agent sees it now (edits applied)."""

    message_id: int
    chat_id: int
    text: str
    html: str
    buttons: list[list[tuple[str, str]]] = field(default_factory=list)
    edits: int = 0
    kind: str = "text"
    # A photo's or document's file: (name, bytes).
    file: tuple[str, bytes] | None = None

    @property
    def labels(self) -> list[str]:
        return [label for row in self.buttons for label, _ in row]

    def data_for(self, label: str) -> str:
        """The callback data of the button reading `label` (a leading ✓ selection mark may be left out)."""
        for row in self.buttons:
            for text, data in row:
                if label in (text, text.removeprefix("✓ ")):
                    return data
        raise LookupError(f"no button {label!r} on message {self.message_id}; buttons: {self.labels}")


class TelegramError(Exception):
    """What Telegram would answer with ok=false."""

    def __init__(self, code: int, description: str, retry_after: int | None = None) -> None:
        super().__init__(description)
        self.code, self.description, self.retry_after = code, description, retry_after


class _TagChecker(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in _ALLOWED_TAGS:
            raise TelegramError(400, f'Bad Request: can\'t parse entities: unsupported start tag "{tag}"')
        self.stack.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if not self.stack or self.stack[-1] != tag:
            raise TelegramError(400, f'Bad Request: can\'t parse entities: unexpected end tag "{tag}"')
        self.stack.pop()

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def plain_text(text: str, parse_mode: str | None) -> str:
    """The text as the agent's app shows it: HTML parsed and checked like Telegram does."""
    if (parse_mode or "").upper() != "HTML":
        return text
    if re.search(r"&(?![a-zA-Z]+;|#\d+;|#x[0-9a-fA-F]+;)", text):
        raise TelegramError(400, "Bad Request: can't parse entities: unescaped & in text")
    checker = _TagChecker()
    checker.feed(text)
    checker.close()
    if checker.stack:
        raise TelegramError(400, f'Bad Request: can\'t parse entities: unclosed tag "{checker.stack[-1]}"')
    return html.unescape("".join(checker.text))


def _keyboard(markup: Any) -> list[list[tuple[str, str]]]:
    if isinstance(markup, str):
        markup = json.loads(markup)
    rows = (markup or {}).get("inline_keyboard") or []
    result = []
    for row in rows:
        buttons = []
        for button in row:
            data = str(button.get("callback_data", button.get("url", "")))
            if len(data.encode()) > CALLBACK_LIMIT:
                raise TelegramError(400, "Bad Request: BUTTON_DATA_INVALID")
            buttons.append((str(button["text"]), data))
        result.append(buttons)
    return result


class LocalBotAPI(BaseRequest):
    """Answers Bot API calls in-process like Telegram, records them, and can fail on request."""

    def __init__(self) -> None:
        self.calls: list[ApiCall] = []
        self.messages: dict[tuple[int, int], Shown] = {}
        self.callback_answers: dict[str, dict[str, Any]] = {}
        self.commands: dict[tuple[str, str], list[dict[str, Any]]] = {}
        self._message_ids: dict[int, Iterator[int]] = {}
        self._failures: list[tuple[str, TelegramError]] = []
        self.webhook: dict[str, Any] = {}  # setWebhook's parameters while one is set
        self.stored: dict[str, tuple[str, bytes]] = {}  # files getFile can serve: file_id → (name, bytes)
        self._file_ids = itertools.count(1)

    def store_file(self, filename: str, content: bytes) -> str:
        """Keep a file as Telegram keeps what a user sends; returns its file_id."""
        file_id = f"file-{next(self._file_ids)}"
        self.stored[file_id] = (filename, content)
        return file_id

    # -- BaseRequest ---------------------------------------------------------------------------
    async def initialize(self) -> None:
        return None

    async def shutdown(self) -> None:
        return None

    @property
    def read_timeout(self) -> float | None:
        return 1.0

    async def do_request(
        self,
        url: str,
        method: str,
        request_data: RequestData | None = None,
        read_timeout: Any = None,
        write_timeout: Any = None,
        connect_timeout: Any = None,
        pool_timeout: Any = None,
    ) -> tuple[int, bytes]:
        if FILE_ROUTE in url:  # a download (File.download_*): the bytes themselves, not a JSON answer
            return self._download(url)
        name = url.rsplit("/", 1)[-1]
        params = dict(request_data.parameters) if request_data else {}
        if request_data is not None and request_data.contains_files:
            params[FILES] = {  # what was uploaded: {field: (file name, bytes)}
                name: (upload[0], upload[1]) for name, upload in (request_data.multipart_data or {}).items()
            }
        try:
            failure = self._take_failure(name)
            if failure:
                raise failure
            handler = getattr(self, f"api_{name}", None)
            if handler is None:
                raise TelegramError(400, f"Bad Request: method {name} is not implemented here")
            result = handler(params)
        except TelegramError as error:
            self.calls.append(ApiCall(name, params, ok=False))
            body: dict[str, Any] = {"ok": False, "error_code": error.code, "description": error.description}
            if error.retry_after is not None:
                body["parameters"] = {"retry_after": error.retry_after}
            return error.code, json.dumps(body).encode()
        self.calls.append(ApiCall(name, params))
        return 200, json.dumps({"ok": True, "result": result}).encode()

    def _download(self, url: str) -> tuple[int, bytes]:
        file_path = url.split(FILE_ROUTE, 1)[1].split("/", 1)[-1]
        file_id = file_path.removeprefix("documents/")
        self.calls.append(ApiCall("downloadFile", {"file_path": file_path}, ok=file_id in self.stored))
        if file_id not in self.stored:
            return 404, json.dumps({"ok": False, "error_code": 404, "description": "Not Found"}).encode()
        return 200, self.stored[file_id][1]

    # -- test controls -------------------------------------------------------------------------
    def fail_next(self, method: str, code: int, description: str, retry_after: int | None = None) -> None:
        """Make the next call of `method` fail as Telegram would (403 blocked, 429 flood, 400 …)."""
        self._failures.append((method, TelegramError(code, description, retry_after)))

    def _take_failure(self, method: str) -> TelegramError | None:
        for index, (name, error) in enumerate(self._failures):
            if name == method:
                del self._failures[index]
                return error
        return None

    @property
    def files(self) -> dict[tuple[int, int], tuple[str, bytes]]:
        """Photos and documents sent, by (chat, message id): (file name, bytes)."""
        return {key: shown.file for key, shown in self.messages.items() if shown.file is not None}

    def next_message_id(self, chat_id: int) -> int:
        counter = self._message_ids.setdefault(chat_id, itertools.count(1))
        return next(counter)

    def chat_messages(self, chat_id: int) -> list[Shown]:
        return [m for (chat, _), m in sorted(self.messages.items()) if chat == chat_id]

    def sent_texts(self) -> list[tuple[str, str, list[list[tuple[str, str]]]]]:
        """(method, raw text, buttons) of every message the bot sent or edited, in order."""
        out = []
        for call in self.calls:
            text = call.params.get("text", call.params.get("caption"))
            if call.method.startswith(("send", "edit")) and (text is not None or "reply_markup" in call.params):
                out.append((call.method, str(text or ""), _keyboard(call.params.get("reply_markup"))))
        return out

    # -- Bot API methods -----------------------------------------------------------------------
    def _message(self, chat_id: int, message_id: int, body: dict[str, Any]) -> dict[str, Any]:
        return {
            "message_id": message_id,
            "date": int(time.time()),
            "from": BOT_USER,
            "chat": {"id": chat_id, "type": "private"},
            **body,
        }

    def _render(self, shown: Shown) -> dict[str, Any]:
        body: dict[str, Any] = {"text": shown.text}
        if shown.buttons:
            body["reply_markup"] = {
                "inline_keyboard": [[{"text": t, "callback_data": d} for t, d in row] for row in shown.buttons]
            }
        if shown.edits:
            body["edit_date"] = int(time.time())
        return self._message(shown.chat_id, shown.message_id, body)

    def api_getMe(self, params: dict[str, Any]) -> dict[str, Any]:
        return BOT_USER

    def api_sendMessage(self, params: dict[str, Any]) -> dict[str, Any]:
        chat_id, raw = int(params["chat_id"]), str(params.get("text", ""))
        text = plain_text(raw, params.get("parse_mode"))
        if not text.strip():
            raise TelegramError(400, "Bad Request: message text is empty")
        if len(text) > MESSAGE_LIMIT:
            raise TelegramError(400, "Bad Request: message is too long")
        shown = Shown(self.next_message_id(chat_id), chat_id, text, raw, _keyboard(params.get("reply_markup")))
        self.messages[(chat_id, shown.message_id)] = shown
        return self._render(shown)

    def _media(self, params: dict[str, Any], kind: str) -> dict[str, Any]:
        chat_id = int(params["chat_id"])
        raw = str(params.get("caption") or "")
        caption = plain_text(raw, params.get("parse_mode"))
        shown = Shown(
            self.next_message_id(chat_id),
            chat_id,
            caption,
            raw,
            _keyboard(params.get("reply_markup")),
            kind=kind,
        )
        uploads: dict[str, tuple[str, bytes]] = params.get(FILES, {})
        if kind in uploads:
            shown = replace(shown, file=uploads[kind])
            self.stored[f"{kind}-{shown.message_id}"] = uploads[kind]  # what the bot sent can be fetched back
        self.messages[(chat_id, shown.message_id)] = shown
        body = self._render(shown)
        body.pop("text", None)
        body["caption"] = caption
        file = {"file_id": f"{kind}-{shown.message_id}", "file_unique_id": f"u{shown.message_id}"}
        body[kind] = [{**file, "width": 960, "height": 720}] if kind == "photo" else {**file}
        return body

    def api_getFile(self, params: dict[str, Any]) -> dict[str, Any]:
        file_id = str(params.get("file_id", ""))
        if file_id not in self.stored:
            raise TelegramError(400, "Bad Request: invalid file_id")
        size = len(self.stored[file_id][1])
        if size > DOWNLOAD_LIMIT:
            raise TelegramError(400, "Bad Request: file is too big")
        return {
            "file_id": file_id,
            "file_unique_id": f"u-{file_id}",
            "file_size": size,
            "file_path": f"documents/{file_id}",
        }

    def api_sendPhoto(self, params: dict[str, Any]) -> dict[str, Any]:
        return self._media(params, "photo")

    def api_sendDocument(self, params: dict[str, Any]) -> dict[str, Any]:
        return self._media(params, "document")

    def _existing(self, params: dict[str, Any]) -> Shown:
        key = (int(params["chat_id"]), int(params["message_id"]))
        if key not in self.messages:
            raise TelegramError(400, "Bad Request: message to edit not found")
        return self.messages[key]

    def api_editMessageText(self, params: dict[str, Any]) -> dict[str, Any]:
        shown = self._existing(params)
        raw = str(params.get("text", ""))
        text = plain_text(raw, params.get("parse_mode"))
        if not text.strip():
            raise TelegramError(400, "Bad Request: message text is empty")
        buttons = _keyboard(params.get("reply_markup"))
        if text == shown.text and buttons == shown.buttons:
            raise TelegramError(
                400,
                "Bad Request: message is not modified: specified new message content and "
                "reply markup are exactly the same as a current content and reply markup",
            )
        shown.text, shown.html, shown.buttons, shown.edits = text, raw, buttons, shown.edits + 1
        return self._render(shown)

    def api_editMessageReplyMarkup(self, params: dict[str, Any]) -> dict[str, Any]:
        shown = self._existing(params)
        buttons = _keyboard(params.get("reply_markup"))
        if buttons == shown.buttons:
            raise TelegramError(400, "Bad Request: message is not modified")
        shown.buttons, shown.edits = buttons, shown.edits + 1
        return self._render(shown)

    def api_deleteMessage(self, params: dict[str, Any]) -> bool:
        key = (int(params["chat_id"]), int(params["message_id"]))
        if self.messages.pop(key, None) is None:
            raise TelegramError(400, "Bad Request: message to delete not found")
        return True

    def api_answerCallbackQuery(self, params: dict[str, Any]) -> bool:
        self.callback_answers[str(params["callback_query_id"])] = params
        return True

    def api_setMyCommands(self, params: dict[str, Any]) -> bool:
        commands = params["commands"]
        if isinstance(commands, str):
            commands = json.loads(commands)
        scope = params.get("scope") or {"type": "default"}
        if isinstance(scope, str):
            scope = json.loads(scope)
        self.commands[(json.dumps(scope, sort_keys=True), str(params.get("language_code", "")))] = commands
        return True

    def api_deleteMyCommands(self, params: dict[str, Any]) -> bool:
        return True

    def api_sendChatAction(self, params: dict[str, Any]) -> bool:
        return True

    def api_getUpdates(self, params: dict[str, Any]) -> list[Any]:
        return []

    def api_deleteWebhook(self, params: dict[str, Any]) -> bool:
        self.webhook = {}
        return True

    def api_setWebhook(self, params: dict[str, Any]) -> bool:
        self.webhook = params
        return True


@dataclass
class Reply:
    """What one action of the agent made the bot do."""

    sent: list[Shown]
    edited: list[Shown]
    toast: str | None = None
    alert: bool = False

    @property
    def texts(self) -> list[str]:
        return [m.text for m in self.sent]

    @property
    def last(self) -> Shown:
        """The message the agent now looks at: the newest sent, else the last edited."""
        if self.sent:
            return self.sent[-1]
        if self.edited:
            return self.edited[-1]
        raise AssertionError("the bot neither sent nor edited anything")


class LocalChat:
    """One agent in a private chat with the bot, driving the real handlers through `LocalBotAPI`."""

    # Update ids never seen before on this database, run after run: the gate skips an id already handled.
    _update_ids = itertools.count(time.time_ns() // 1000)

    def __init__(
        self,
        app: Application[Any, Any, Any, Any, Any, Any],
        api: LocalBotAPI,
        user_id: int = 1001,
        first_name: str = "小王",
        language_code: str | None = "zh-hans",
    ) -> None:
        self.app, self.api, self.user_id = app, api, user_id
        self.user = {"id": user_id, "is_bot": False, "first_name": first_name, "username": f"agent{user_id}"}
        if language_code:
            self.user["language_code"] = language_code
        self.chat = {"id": user_id, "type": "private", "first_name": first_name}

    @property
    def chat_id(self) -> int:
        return self.user_id

    def messages(self) -> list[Shown]:
        return self.api.chat_messages(self.chat_id)

    def last_with_buttons(self) -> Shown | None:
        return next((m for m in reversed(self.messages()) if m.buttons), None)

    async def send(self, text: str) -> Reply:
        """The agent types `text` (a leading /command gets its entity, as Telegram adds it)."""
        return await self._process(self.text_update(text))

    def text_update(self, text: str) -> dict[str, Any]:
        """The update Telegram would send for `text`, with an id never used before (tests send one twice)."""
        message: dict[str, Any] = {
            "message_id": self.api.next_message_id(self.chat_id),
            "date": int(time.time()),
            "chat": self.chat,
            "from": self.user,
            "text": text,
        }
        if text.startswith("/"):
            command = text.split()[0]
            message["entities"] = [{"type": "bot_command", "offset": 0, "length": len(command)}]
        return {"update_id": next(self._update_ids), "message": message}

    async def send_sticker(self) -> Reply:
        message = {
            "message_id": self.api.next_message_id(self.chat_id),
            "date": int(time.time()),
            "chat": self.chat,
            "from": self.user,
            "sticker": {
                "file_id": "s1",
                "file_unique_id": "s1",
                "width": 512,
                "height": 512,
                "is_animated": False,
                "is_video": False,
                "type": "regular",
            },
        }
        return await self._process({"update_id": next(self._update_ids), "message": message})

    async def send_document(self, filename: str, content: bytes, mime_type: str | None = None) -> Reply:
        """The agent sends a file (kept by the API, so the bot can getFile and download it)."""
        file_id = self.api.store_file(filename, content)
        document = {
            "file_id": file_id,
            "file_unique_id": f"u-{file_id}",
            "file_name": filename,
            "mime_type": mime_type or mimetypes.guess_type(filename)[0] or "application/octet-stream",
            "file_size": len(content),
        }
        message = {
            "message_id": self.api.next_message_id(self.chat_id),
            "date": int(time.time()),
            "chat": self.chat,
            "from": self.user,
            "document": document,
        }
        return await self._process({"update_id": next(self._update_ids), "message": message})

    async def press(self, label: str, on: Shown | None = None) -> Reply:
        """Press the button labelled `label` on `on`, or on the newest message that shows it."""
        candidates = [on] if on else list(reversed(self.messages()))
        for shown in candidates:
            if label in shown.labels or "✓ " + label in shown.labels:
                return await self.press_data(shown.data_for(label), shown)
        shown_labels = [m.labels for m in self.messages() if m.buttons]
        raise LookupError(f"no button {label!r} is shown; buttons: {shown_labels}")

    async def press_data(self, data: str, on: Shown | None = None) -> Reply:
        """Press a button by its callback data: also how a forged or stale press is sent."""
        mine = self.messages()
        target = on or (mine[-1] if mine else None)
        query_id = f"q{next(self._update_ids)}"
        query: dict[str, Any] = {
            "id": query_id,
            "from": self.user,
            "chat_instance": str(self.chat_id),
            "data": data,
        }
        if target is not None:
            query["message"] = self.api._render(target)
        reply = await self._process({"update_id": next(self._update_ids), "callback_query": query})
        answer = self.api.callback_answers.get(query_id) or {}
        reply.toast = answer.get("text")
        reply.alert = bool(answer.get("show_alert"))
        return reply

    async def _process(self, payload: dict[str, Any]) -> Reply:
        before = {key: shown.edits for key, shown in self.api.messages.items()}
        await self.app.process_update(Update.de_json(payload, self.app.bot))
        sent, edited = [], []
        for key, shown in sorted(self.api.messages.items()):
            if key not in before:
                sent.append(shown)
            elif shown.edits != before[key]:
                edited.append(shown)
        return Reply(sent, edited)
