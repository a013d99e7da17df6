"""Decisions written once, run by a synchronous or an asynchronous driver.

A decision (``CartoAuth.from_oauth``'s choice of source, ``LabSource``'s
sign-in check) is a generator that yields steps and receives their results.
``run`` does each step in the caller's thread (``request_session`` waits on the
stdin channel); ``run_async`` awaits it (the lab answers on the comm while the
cell awaits; blocking work goes to a thread).
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from typing import Any, TypeVar

T = TypeVar("T")


class Step:
    """One thing a decision needs done."""

    def run(self) -> Any:
        raise NotImplementedError

    async def run_async(self) -> Any:
        raise NotImplementedError


class Blocking(Step):
    """Call ``fn``; from a coroutine, in a thread (a cache read, a kernel-side sign-in)."""

    def __init__(self, fn: Callable[[], Any]) -> None:
        self.fn = fn

    def run(self) -> Any:
        return self.fn()

    async def run_async(self) -> Any:
        import asyncio

        return await asyncio.to_thread(self.fn)


class ProbeLab(Step):
    """Is a JupyterLab listening? (``kernel.probe_lab``)"""

    def run(self) -> bool:
        from .. import kernel

        return kernel.probe_lab()

    async def run_async(self) -> bool:
        from .. import kernel

        return await kernel.probe_lab_async()


Decision = Generator[Step, Any, T]


def run(decision: Decision[T]) -> T:
    """Drive ``decision`` with each step done synchronously."""
    result: Any = None
    try:
        while True:
            result = decision.send(result).run()
    except StopIteration as done:
        return done.value


async def run_async(decision: Decision[T]) -> T:
    """Drive ``decision`` awaiting each step."""
    result: Any = None
    try:
        while True:
            result = await decision.send(result).run_async()
    except StopIteration as done:
        return done.value
