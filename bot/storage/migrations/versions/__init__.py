"""Alembic revisions, oldest first by file name. Alembic loads them by path; nothing imports them.

This file makes the directory a package, so that the wheel (and the Docker image) ships it.
"""
