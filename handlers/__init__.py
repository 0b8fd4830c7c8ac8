"""Thin Telegram glue: parse the update, call the domain in `bot/`, render with the catalogs, reply."""
