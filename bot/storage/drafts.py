"""The admin's /broadcast wizard, kept in the database: one open draft per admin.

Mixed into :class:`bot.storage.Storage`. A draft has an id (12 hex digits, random), the
locales it asks texts for in order, the texts given so far, and ``step`` (the index of the
locale asked next; ``len(locales)`` once the preview waits for Confirm). Any replica can take
the admin's next step. A draft untouched for :data:`DRAFT_TTL` has expired: it is treated as
absent and deleted when next seen.

:meth:`DraftStore.queue_draft` turns a draft into a queued broadcast in one transaction: the
draft is deleted as the broadcast is inserted, so a second Confirm (or one on another replica)
finds nothing, and when the transaction fails the draft is still there to confirm again.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, insert, or_, select, update
from sqlalchemy.engine import Row

from bot.core.times import utc
from bot.storage.broadcasts import BroadcastStore
from bot.storage.tables import broadcast_drafts

#: A draft untouched this long has expired.
DRAFT_TTL = timedelta(minutes=30)

_d = broadcast_drafts


@dataclass(frozen=True)
class Draft:
    """One admin's broadcast in the making."""

    id: str
    admin_id: int
    locales: tuple[str, ...]  # in the order asked: the default locale first
    texts: Mapping[str, str]  # locale -> Telegram HTML, for the locales given so far
    step: int  # index into locales; == len(locales) once waiting for Confirm
    updated_at: datetime

    @property
    def waiting_for_text(self) -> bool:
        return self.step < len(self.locales)

    @property
    def locale(self) -> str:
        """The locale whose text is asked now (only while :attr:`waiting_for_text`)."""
        return self.locales[self.step]


def _draft(row: Row[Any]) -> Draft:
    return Draft(
        id=str(row.draft_id),
        admin_id=int(row.admin_id),
        locales=tuple(json.loads(row.locales)),
        texts=json.loads(row.texts),
        step=int(row.step),
        updated_at=row.updated_at,
    )


def new_draft_id() -> str:
    return secrets.token_hex(6)


class DraftStore(BroadcastStore):
    """Draft methods of :class:`bot.storage.Storage`."""

    async def open_draft(
        self, admin_id: int, locales: Sequence[str], *, now: datetime | None = None
    ) -> Draft:
        """A new draft for ``admin_id``; the admin's other drafts (and expired ones) go."""
        when = utc(now)
        draft = Draft(new_draft_id(), admin_id, tuple(locales), {}, 0, when)
        async with self._serial.begin() as conn:
            await conn.execute(
                delete(_d).where(
                    or_(_d.c.admin_id == admin_id, _d.c.updated_at < when - DRAFT_TTL)
                )
            )
            await conn.execute(
                insert(_d).values(
                    draft_id=draft.id,
                    admin_id=admin_id,
                    locales=json.dumps(list(locales)),
                    texts="{}",
                    step=0,
                    updated_at=when,
                )
            )
        return draft

    async def get_draft(
        self, admin_id: int, draft_id: str | None = None, *, now: datetime | None = None
    ) -> Draft | None:
        """The admin's open draft (``draft_id``: only that one); None when none or expired."""
        stmt = select(*_d.c).where(_d.c.admin_id == admin_id)
        if draft_id is not None:
            stmt = stmt.where(_d.c.draft_id == draft_id)
        async with self._single.connect() as conn:
            row = (await conn.execute(stmt.order_by(_d.c.updated_at.desc()).limit(1))).first()
        if row is None:
            return None
        draft = _draft(row)
        if draft.updated_at < utc(now) - DRAFT_TTL:
            await self.delete_drafts(admin_id, draft.id)
            return None
        return draft

    async def advance_draft(
        self, draft: Draft, text: str | None, *, now: datetime | None = None
    ) -> Draft | None:
        """The text of the current step (None: the locale is skipped), then the next step.

        Compare-and-set on ``step``: None when the draft moved on meanwhile (another update of
        the admin took this step) or is gone.
        """
        texts = dict(draft.texts)
        if text is not None:
            texts[draft.locale] = text
        when = utc(now)
        stmt = (
            update(_d)
            .where(_d.c.draft_id == draft.id, _d.c.step == draft.step)
            .values(
                texts=json.dumps(texts, ensure_ascii=False), step=draft.step + 1, updated_at=when
            )
        )
        async with self._single.begin() as conn:
            changed = (await conn.execute(stmt)).rowcount
        if not changed:
            return None
        return Draft(draft.id, draft.admin_id, draft.locales, texts, draft.step + 1, when)

    async def delete_drafts(self, admin_id: int, draft_id: str | None = None) -> bool:
        """Drop the admin's drafts (``draft_id``: only that one); True if one was there."""
        stmt = delete(_d).where(_d.c.admin_id == admin_id)
        if draft_id is not None:
            stmt = stmt.where(_d.c.draft_id == draft_id)
        async with self._single.begin() as conn:
            return bool((await conn.execute(stmt)).rowcount)

    async def queue_draft(
        self,
        draft: Draft,
        *,
        texts: Mapping[str, str],
        locales: Sequence[str] | None,
        progress_chat_id: int | None = None,
        progress_message_id: int | None = None,
        now: datetime | None = None,
    ) -> int | None:
        """Queue ``draft`` as a broadcast and delete it, in one transaction; the broadcast id.

        None when the draft is no longer there (queued or cancelled already, or replaced by a
        newer one). If anything fails, nothing is queued and the draft stays.
        """
        async with self._queueing() as engine, engine.begin() as conn:
            taken = await conn.execute(
                delete(_d).where(
                    _d.c.draft_id == draft.id,
                    _d.c.admin_id == draft.admin_id,
                    _d.c.step == len(draft.locales),
                )
            )
            if not taken.rowcount:
                return None
            return await self._insert_broadcast(
                conn,
                texts=texts,
                locales=locales,
                interests=None,
                send_at=None,
                paid=False,
                created_by=draft.admin_id,
                progress_chat_id=progress_chat_id,
                progress_message_id=progress_message_id,
                now=now,
            )

    async def purge_expired_drafts(self, *, now: datetime | None = None) -> int:
        stmt = delete(_d).where(_d.c.updated_at < utc(now) - DRAFT_TTL)
        async with self._single.begin() as conn:
            return int((await conn.execute(stmt)).rowcount)
