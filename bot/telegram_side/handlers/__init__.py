"""Thin handlers: decode the update, call the core, send through ``replies``."""
