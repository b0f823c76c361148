"""The Telegram side: wiring, the per-update context, handlers, transport, hot reload."""
