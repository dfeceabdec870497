"""The shape every background worker of the simulator shares: a daemon thread that runs one
cycle after another, sleeps until it is rung or the next deadline (in simulated time) comes,
and survives any one failing cycle."""

from __future__ import annotations

import logging
import threading

from simulator.core.clock import Clock

log = logging.getLogger(__name__)

MAX_WAIT = 1.0  # real seconds between checks when nothing is due (a manual clock may move)
# Due times often come from a datetime (microseconds), which may round a timestamp up by less
# than a microsecond; under a manual clock such a row would never fall due without this slack.
SLACK = 1e-6


def due_now(clock: Clock) -> float:
    """The clock's time for comparing against stored due times."""
    return clock.timestamp() + SLACK


def real_wait(clock: Clock, due_at: float | None, now: float) -> float:
    """Real seconds to sleep until simulated time `due_at` (MAX_WAIT when unknown or far)."""
    if due_at is None:
        return MAX_WAIT
    real = clock.sleep_seconds(due_at - now)
    return MAX_WAIT if real is None else min(MAX_WAIT, max(real, 0.001))


class BackgroundLoop:
    """Runs `cycle()` in a daemon thread between start() and stop(); `cycle` returns how long
    to wait for the bell (None: go round again at once)."""

    name = "background"

    def __init__(self, bell: threading.Event) -> None:
        self.bell = bell
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def cycle(self) -> float | None:
        """One turn of work."""
        raise NotImplementedError

    def on_start(self) -> None:
        """Before the thread starts."""

    def on_stop(self) -> None:
        """After the thread ended."""

    @property
    def stopping(self) -> bool:
        """Whether stop() was asked for."""
        return self._stop.is_set()

    @property
    def running(self) -> bool:
        """Whether the background thread is alive."""
        return self._thread is not None and self._thread.is_alive()

    @property
    def in_loop(self) -> bool:
        """Whether the caller is the loop's own thread."""
        return threading.current_thread() is self._thread

    def start(self) -> None:
        """Start the thread (once)."""
        if self._thread is not None:
            return
        self._stop.clear()
        self.on_start()
        self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop after the current cycle."""
        if self._thread is None:
            return
        self._stop.set()
        self.bell.set()
        self._thread.join(timeout)
        self.on_stop()
        self._thread = None

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.bell.clear()
                wait = self.cycle()
                if wait is not None and not self._stop.is_set():
                    self.bell.wait(wait)
            except Exception:  # noqa: BLE001 - a worker must outlive any one bad cycle
                log.exception("%s cycle failed; retrying", self.name)
                self._stop.wait(0.5)
