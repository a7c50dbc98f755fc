"""Sending hugs: idempotent, privacy-checked, durable, group-committed.

A send commits the hug and both inbox events (recipient `hug.received`, sender `hug.sent`, which
keeps the sender's other devices in step) in one transaction; only then is it acknowledged and
published. The same `client_id` from the same sender always returns the first hug.

Sends are group-committed: one transaction per hug (about eight round trips and a commit each)
capped a process at a few hundred hugs a second. The process's `HugSender` writes whatever sends
queued up while the previous batch was committing, up to `SEND_BATCH_MAX`, with set-based
statements: check every send (existing hug and design in one query, privacy and blocks in two
more, shared with hug requests), insert the admitted hugs in one, append all their inbox events
in one `inbox.append`. Each send still gets its own answer: a refused send fails alone and the
rest commit. A lone send starts a batch at once, so low load adds no latency.

Under faults (`HugSender._commit`): a database that is down, lost or stalled answers every send
of the batch `unavailable` at once; a send that makes the transaction fail (a constraint, a
trigger, a user deleted under it) is found by bisecting the batch, so it fails alone in about
2·log2(n) transactions; at most `SEND_QUEUE_MAX` sends wait and none longer than
`SEND_DEADLINE_SECS`. Every `unavailable` is safe to retry with the same `client_id`: a send
answered `unavailable` whose batch committed after all returns that hug on retry.
"""

from __future__ import annotations

import logging
import uuid

import asyncpg

from hugmood.core.batching import Answer, GroupCommit
from hugmood.core.context import Context
from hugmood.core.errors import AppError
from hugmood.core.outages import DATABASE_DOWN, NETWORK_DOWN, unavailable
from hugmood.core.ratelimit import RateLimiter
from hugmood.delivery import inbox
from hugmood.hugs.models import Hug, HugSend
from hugmood.hugs.store import HUG_COLUMNS, HUG_FROM, existing, hug_from_row
from hugmood.social import privacy

log = logging.getLogger("hugmood.hugs")

SEND_BATCH_MAX = 500  # sends per transaction: bounds its locks, statement size and duration
# 10 batches, well under a second of commits at this process's ~2,000 hugs/s, at under 1 KB a
# send (5 MB); a longer queue would only answer its tail after the deadline.
SEND_QUEUE_MAX = 5_000
# A sender waits this long for its ack (rate-limit hit excluded): a batch takes tens of ms, so
# past it the database is stalled and the client is better told to retry. Under the request
# deadline (`outages.DEADLINE_SECS`), so the answer says the database, not "a dependency".
SEND_DEADLINE_SECS = 1.8
# Transactions one batch may spend isolating failing sends: one bad send in 500 takes 19, five
# take under 90; past it the sends still unresolved are answered `unavailable`.
BISECT_BUDGET = 128

# Deadlock or serialization failure: the batch met another transaction, not a bad send; the whole
# batch is retried once, then answered `unavailable`.
_CONFLICT = asyncpg.exceptions.TransactionRollbackError

# For each send, in order: the hug its (sender, client_id) already has, and whether the design
# exists and the sender owns it.
_CHECK_SENDS = f"""
SELECT
  b.design IS NULL OR EXISTS (SELECT 1 FROM hug_designs WHERE id = b.design) AS design_known,
  b.design IS NULL OR EXISTS (SELECT 1 FROM user_hug_inventory
                              WHERE user_id = b.sender AND hug_design_id = b.design)
    AS design_owned,
  {HUG_COLUMNS}
FROM unnest($1::uuid[], $2::text[], $3::uuid[]) WITH ORDINALITY AS b(sender, client_id, design, n)
LEFT JOIN hugs h ON h.sender_id = b.sender AND h.client_id = b.client_id
LEFT JOIN hug_reactions r ON r.hug_id = h.id
ORDER BY b.n
"""

_INSERT_HUGS = """
INSERT INTO hugs (sender_id, recipient_id, type, message, design_id, client_id)
SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::text[], $4::text[], $5::uuid[], $6::text[])
ON CONFLICT (sender_id, client_id) DO NOTHING
RETURNING id, sender_id, recipient_id, type, message, design_id, client_id,
          sent_at, received_at, read_at
"""

_HUGS_BY_KEY = f"""
SELECT {HUG_COLUMNS} FROM {HUG_FROM}
JOIN unnest($1::uuid[], $2::text[]) AS k(sender_id, client_id)
  ON h.sender_id = k.sender_id AND h.client_id = k.client_id
"""

Send = tuple[uuid.UUID, HugSend]  # (sender_id, what was sent)
Outcome = tuple[Hug, bool] | Exception
Key = tuple[uuid.UUID, str]  # (sender_id, client_id): the idempotency key


def _design_refusal(row: asyncpg.Record) -> AppError | None:
    """Why a checked send's design may not be used (unknown: `not_found`, not owned:
    `forbidden`), or None."""
    if not row["design_known"]:
        return AppError("not_found", "no such hug design", "design_id")
    if not row["design_owned"]:
        return AppError("forbidden", "you do not own this hug design", "design_id")
    return None


async def _write_sends(
    conn: asyncpg.Connection, sends: list[Send]
) -> tuple[list[Outcome], list[inbox.Delivery]]:
    """Write `sends` in one transaction, set-based: one outcome per send (all known before
    commit), and the inbox events to publish after commit.

    Sends are judged in order, as if one at a time: the first admissible send of a key makes
    the hug, later ones with that key (and keys committed before) get the existing hug.
    """
    outcomes: list[Outcome | None] = [None] * len(sends)
    writer: dict[Key, int] = {}  # key -> index of the send that writes it
    async with conn.transaction():
        checks = await conn.fetch(
            _CHECK_SENDS,
            [sender for sender, _ in sends],
            [data.client_id for _, data in sends],
            [data.design_id for _, data in sends],
        )
        admissions = await privacy.hug_refusals(conn, [(sender, data.to) for sender, data in sends])
        for i, ((sender, data), row) in enumerate(zip(sends, checks, strict=True)):
            key = (sender, data.client_id)
            if row["id"] is not None:
                outcomes[i] = (hug_from_row(row), False)
            elif key not in writer:
                if (refusal := admissions[i] or _design_refusal(row)) is not None:
                    outcomes[i] = refusal
                else:
                    writer[key] = i
        # Inserting in key order keeps two batches that share keys from deadlocking.
        new = sorted(writer.items())
        rows = (
            await conn.fetch(
                _INSERT_HUGS,
                [sender for (sender, _), _ in new],
                [sends[i][1].to for _, i in new],
                [sends[i][1].type for _, i in new],
                [sends[i][1].message for _, i in new],
                [sends[i][1].design_id for _, i in new],
                [client_id for (_, client_id), _ in new],
            )
            if new
            else []
        )
        hugs: dict[Key, tuple[Hug, bool]] = {
            (row["sender_id"], row["client_id"]): (Hug(**dict(row)), True) for row in rows
        }
        if lost := [key for key in writer if key not in hugs]:
            # Another process committed these keys since the check: theirs are the hugs.
            winners = await conn.fetch(
                _HUGS_BY_KEY, [sender for sender, _ in lost], [client_id for _, client_id in lost]
            )
            hugs |= {(r["sender_id"], r["client_id"]): (hug_from_row(r), False) for r in winners}
        entries = []
        answered: list[Outcome] = []
        for i, (sender, data) in enumerate(sends):
            outcome = outcomes[i]
            if outcome is None:
                found = hugs.get((sender, data.client_id))
                if found is None:  # the other process's hug is gone again: let the client retry
                    outcome = unavailable("hug changed meanwhile")
                elif writer[(sender, data.client_id)] == i and found[1]:
                    outcome = found
                    hug = found[0]
                    entries += [(hug.recipient_id, "hug.received", hug), (sender, "hug.sent", hug)]
                else:
                    outcome = (found[0], False)
            answered.append(outcome)
        deliveries = await inbox.append(conn, entries) if entries else []
        # Every outcome is known before commit: nothing after it can fail a committed send.
    return answered, deliveries


class HugSender:
    """The process's hug sends: `send` admits one, `close` commits what is queued, then stops."""

    def __init__(
        self,
        ctx: Context,
        limiter: RateLimiter,
        *,
        max_queued: int = SEND_QUEUE_MAX,
        deadline_secs: float = SEND_DEADLINE_SECS,
    ) -> None:
        self._ctx = ctx
        self._limiter = limiter
        # Its runner task starts with the first send: processes that send no hugs run none.
        self.commits: GroupCommit[Send, tuple[Hug, bool]] = GroupCommit(
            self._commit,
            SEND_BATCH_MAX,
            max_queued=max_queued,
            deadline_secs=deadline_secs,
            waits_on="postgres",
        )
        self.transactions = 0  # write transactions begun, bisection and retries included

    async def send(self, sender_id: uuid.UUID, data: HugSend) -> tuple[Hug, bool]:
        """The hug for `data.client_id`, and whether this call created it.

        The rate limit and the self-hug check run here; the rest happens in the group commit
        (`_commit`). A retry of an existing `client_id` is answered on every path and its
        rate-limit hit is given back, so retries never count.
        """
        ctx, limiter = self._ctx, self._limiter
        try:
            await limiter.hit("hug send", str(sender_id), ctx.settings.rate_hug_send)
            if data.to == sender_id:
                raise AppError("invalid", "you cannot hug yourself", "to")
        except AppError:
            if (hug := await existing(ctx.db, sender_id, data.client_id)) is None:
                raise
            created = False
        else:
            hug, created = await self.commits.submit((sender_id, data))
        if not created:
            await limiter.refund("hug send", str(sender_id), ctx.settings.rate_hug_send)
        return hug, created

    async def close(self) -> None:
        await self.commits.close()

    async def _commit(self, sends: list[Send], answer: Answer[tuple[Hug, bool]]) -> None:
        """One group commit of hug sends (see `hugmood.core.batching`): answer every sender
        once the hugs and their inbox events are durable, then publish all the events at once.

        A failed transaction wrote nothing. If the database is down (`outages.DATABASE_DOWN`), every
        send not yet committed is answered `unavailable` at once: more transactions would only
        multiply the wait. If a send made it fail (any other database error, or an `AppError`
        such as a recipient deleted under the batch), the batch is split in halves, written in
        order, and each failing half split again: a bad send fails alone with its own error,
        the others commit, in about 2·log2(n) transactions for one bad send.
        """
        outcomes: list[Outcome | None] = [None] * len(sends)
        deliveries: list[inbox.Delivery] = []
        budget = BISECT_BUDGET

        async def resolve(start: int, end: int) -> None:
            nonlocal budget
            try:
                done, written = await self._attempt(sends[start:end])
            except (asyncpg.PostgresError, AppError) as exc:
                if isinstance(exc, AppError) and exc.code == "unavailable":
                    raise  # not this half's fault: no bisecting
                if end - start == 1:
                    outcomes[start] = exc
                    return
                budget -= 2
                if budget < 0:
                    raise unavailable("too many failing hugs in one batch") from exc
                if start == 0 and end == len(sends):
                    log.warning("hug batch failed; bisecting it", exc_info=True)
                middle = (start + end) // 2
                await resolve(start, middle)
                await resolve(middle, end)
                return
            outcomes[start:end] = done
            deliveries.extend(written)

        failure = unavailable("hug not written")
        try:
            await resolve(0, len(sends))
        except AppError as exc:  # `unavailable`: the sends not committed yet get it
            log.warning("hug batch: %s", exc.message, exc_info=exc.__cause__)
            failure = exc
        # What is known is answered: committed sends their hug, the rest their error.
        answer([failure if outcome is None else outcome for outcome in outcomes])
        await inbox.publish(self._ctx, deliveries)

    async def _attempt(self, sends: list[Send]) -> tuple[list[Outcome], list[inbox.Delivery]]:
        """`sends` in one transaction, retried once on a conflict (deadlock, serialization)."""
        try:
            return await self._transaction(sends)
        except _CONFLICT:
            log.info("hug batch conflicted; retrying it once", exc_info=True)
        try:
            return await self._transaction(sends)
        except _CONFLICT as exc:
            raise unavailable("hug batch kept conflicting") from exc

    async def _transaction(self, sends: list[Send]) -> tuple[list[Outcome], list[inbox.Delivery]]:
        self.transactions += 1
        try:
            async with self._ctx.db.acquire() as conn:
                return await _write_sends(conn, sends)
        except DATABASE_DOWN + NETWORK_DOWN as exc:
            raise unavailable("database unavailable") from exc
