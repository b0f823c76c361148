"""The content model, its loader and the checks of `interventional-bot check`."""
