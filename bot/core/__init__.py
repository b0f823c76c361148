"""The pure core: content, checks, rendering, callbacks, i18n, Telegram's HTML rules.

Nothing here imports python-telegram-bot, the storage, the broadcast engine or the emulator
(tests/test_layers.py checks it)."""
