"""Group commit: work that arrives while a transaction is under way waits for the next one and shares it.

The engine delivers up to `concurrency` rows at once, and each row needs a few small transactions of its own: its
render, its last check (`claimed → sending`, committed before the send) and its confirmation (`sent`, committed
before anything else happens). Alone, each is a BEGIN, a statement or two and a COMMIT — on SQLite a durable
commit (an fsync) and a turn at the database's one writer, on PostgreSQL a few round trips. Grouped, the rows that
reach the same step while the previous group is being committed go together: one transaction, one statement for
all of them where the step can say it in one, one commit. Nothing waits for a group to fill: the first row of a
quiet moment goes alone at once, so grouping only ever happens when rows are already queueing for the database.

Each row still gets what it had alone: its step is committed before its caller goes on (a last check before the
send, a confirmation before the next thing), so the engine's guarantees (bot/scheduler.py) are unchanged. If a
group fails (one row's render hits a bug, the database drops the connection), its transaction is rolled back and
each row is tried again alone, so one bad row never fails the others and each caller gets its own outcome.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

T = TypeVar("T")
R = TypeVar("R")

# The task that commits the groups one after the other while rows keep coming (its name, as asyncio lists it).
DRAINING = "grouped-commit"

# One step for many rows in one session and transaction: a result per row, in the order given.
Step = Callable[[AsyncSession, Sequence[T]], Awaitable[Sequence[R]]]


class Grouped(Generic[T, R]):
    """Run `step` for each row given to `run`, grouping the rows that queue up into shared transactions."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession], step: Step[T, R], *, limit: int = 64) -> None:
        self._sessions = sessions
        self._step = step
        self._limit = limit
        self._queue: list[tuple[T, asyncio.Future[R]]] = []
        self._draining: asyncio.Task[None] | None = None
        # How many groups ran and the rows they held (the benchmark reports the mean group size).
        self.groups = 0
        self.rows = 0

    async def run(self, item: T) -> R:
        """`step` applied to `item` and committed (in a group or alone); its result, or the error it raised alone."""
        future: asyncio.Future[R] = asyncio.get_running_loop().create_future()
        self._queue.append((item, future))
        if self._draining is None:
            self._draining = asyncio.create_task(self._drain(), name=DRAINING)
        return await future

    async def _drain(self) -> None:
        try:
            while self._queue:
                group, self._queue = self._queue[: self._limit], self._queue[self._limit :]
                try:
                    await self._commit(group)
                except asyncio.CancelledError:  # the process is stopping: no caller may wait for ever
                    for _, future in group + self._queue:
                        future.cancel()
                    self._queue = []
                    raise
        finally:
            self._draining = None

    async def _commit(self, group: list[tuple[T, asyncio.Future[R]]]) -> None:
        self.groups += 1
        self.rows += len(group)
        try:
            results = await self._together([item for item, _ in group])
        except Exception as error:
            if len(group) == 1:
                _fail(group[0][1], error)
                return
            # Which row it was (or whether it was the database) shows when each is tried alone: its own error
            # reaches its caller, which logs it (bot.scheduler: deliver_safely).
            for item, future in group:
                try:
                    result = (await self._together([item]))[0]
                except Exception as alone:
                    _fail(future, alone)
                else:
                    _settle(future, result)
            return
        for index, (_, future) in enumerate(group):
            _settle(future, results[index])

    async def _together(self, items: Sequence[T]) -> Sequence[R]:
        async with self._sessions() as session, session.begin():
            results = await self._step(session, items)
            if len(results) != len(items):  # whose is which cannot be told: undone, and an error for each row
                raise ValueError(f"the step answered {len(results)} results for {len(items)} rows")
            return results


def _settle(future: asyncio.Future[R], result: R) -> None:
    if not future.done():  # its caller may have been cancelled meanwhile
        future.set_result(result)


def _fail(future: asyncio.Future[R], error: BaseException) -> None:
    if not future.done():
        future.set_exception(error)
