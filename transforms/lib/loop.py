"""An asyncio event loop on a thread of its own, owned by one DoFn instance.

Beam calls ``process`` synchronously; network waits overlap only if the
requests run somewhere else.  The loop thread is that somewhere: ``process``
submits a coroutine and carries on, and results are collected as they
finish.  Nothing here is module-level, so each DoFn instance owns exactly
one loop and tears it down in ``teardown()``.
"""
from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from typing import Any, Coroutine


class LoopThread:
    def __init__(self, name: str = "newsbeam-io"):
        self._name = name
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> LoopThread:
        loop = asyncio.new_event_loop()
        ready = threading.Event()

        def serve() -> None:
            asyncio.set_event_loop(loop)
            loop.call_soon(ready.set)
            loop.run_forever()

        self._thread = threading.Thread(target=serve, name=self._name, daemon=True)
        self._thread.start()
        ready.wait()
        self._loop = loop
        return self

    def submit(self, coro: Coroutine[Any, Any, Any]) -> concurrent.futures.Future:
        if self._loop is None:
            coro.close()
            raise RuntimeError("LoopThread.submit() before start()")
        return asyncio.run_coroutine_threadsafe(coro, self._loop)

    def call_soon(self, callback: Any, *args: Any) -> None:
        """Run a plain callback on the loop thread (thread-safe)."""
        if self._loop is not None:
            self._loop.call_soon_threadsafe(callback, *args)

    def run(self, coro: Coroutine[Any, Any, Any], timeout: float | None = None) -> Any:
        return self.submit(coro).result(timeout)

    def stop(self) -> None:
        loop, self._loop = self._loop, None
        if loop is None:
            return
        async def cancel_all() -> None:
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        try:
            asyncio.run_coroutine_threadsafe(cancel_all(), loop).result(10)
        except (concurrent.futures.TimeoutError, RuntimeError):
            pass
        loop.call_soon_threadsafe(loop.stop)
        if self._thread is not None:
            self._thread.join(10)
        loop.close()
