"""SIGINT/SIGTERM as a stop request, so loops on a device shut down cleanly and release the camera."""

from __future__ import annotations

import contextlib
import signal
import threading


@contextlib.contextmanager
def stop_on_signals(stop: threading.Event, enabled: bool, received: list):
    """While inside, SIGINT/SIGTERM set ``stop`` and are recorded in ``received``; old handlers come back after."""
    installed = {}
    if enabled and threading.current_thread() is threading.main_thread():
        def handler(signum, _frame):
            received.append(signal.Signals(signum).name)
            stop.set()

        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(ValueError, OSError):
                installed[sig] = signal.signal(sig, handler)
    try:
        yield
    finally:
        for sig, previous in installed.items():
            with contextlib.suppress(ValueError, OSError):
                signal.signal(sig, previous)
