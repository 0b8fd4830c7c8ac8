"""The process: the `agentcoach` command, the Application's wiring and lifecycle, the engine's link to Telegram, the
send pace, the local shell and its in-process Bot API, and the webhook server.

`handlers/` holds the conversation (what an agent says and presses, and what the bot answers); `bot/` the domain.
Nothing in either imports from here.
"""
