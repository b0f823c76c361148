"""interventional-bot: patient education about interventional therapy on Telegram."""
