"""agentcoach's domain and infrastructure: nothing in here knows about Telegram."""
