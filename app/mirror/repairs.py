"""Queueing mirror repairs without ever blocking the caller.

The directory endpoint (a SIP thread in FreeSWITCH waits on it) and the API (after its SQL commit)
ask for repairs here. A daemon thread per process hands them to Celery; when the broker is down
too, the request is logged and the beat `fscti.directory.reconcile` repairs the drift later.
Requests for the same target within DEDUPE_SECONDS are sent once.
"""
import logging
import os
import queue
import threading
import time

from app import tasknames

log = logging.getLogger(__name__)

DEDUPE_SECONDS = 30.0
MAX_PENDING = 10000
MAX_NAMES_PER_TASK = 200


class RepairQueue:
    """A bounded queue of repair requests drained by one daemon thread."""

    def __init__(self):
        self._pid = None
        self._q: queue.Queue | None = None
        self._recent: dict[tuple, float] = {}
        self._lock = threading.Lock()
        self.sent = 0
        self.failed = 0

    def _ensure(self, app):
        if self._pid != os.getpid():  # a forked child needs its own thread
            with self._lock:
                if self._pid != os.getpid():
                    self._q = queue.Queue(MAX_PENDING)
                    self._recent = {}
                    t = threading.Thread(target=self._run, args=(app,), name="fscti-repairs", daemon=True)
                    t.start()
                    self._pid = os.getpid()

    def _fresh(self, target: tuple) -> bool:
        now = time.monotonic()
        last = self._recent.get(target)
        if last is not None and now - last < DEDUPE_SECONDS:
            return False
        if len(self._recent) > MAX_PENDING:
            self._recent = {k: v for k, v in self._recent.items() if now - v < DEDUPE_SECONDS}
        self._recent[target] = now
        return True

    def extensions(self, app, domain: str, names) -> None:
        """Ask for a repair of these extensions of a domain (never blocks, never raises)."""
        names = [n for n in names if self._fresh(("x", domain, n))]
        for i in range(0, len(names), MAX_NAMES_PER_TASK):
            batch = names[i:i + MAX_NAMES_PER_TASK]
            self._put(app, (tasknames.DIRECTORY_REPAIR_EXTENSIONS, [domain, batch]))

    def domain(self, app, domain: str) -> None:
        """Ask for a rebuild of one domain (its mirror is missing)."""
        if self._fresh(("d", domain)):
            self._put(app, (tasknames.DIRECTORY_REBUILD, [domain]))

    def _put(self, app, item) -> None:
        try:
            self._ensure(app)
            self._q.put_nowait(item)
        except queue.Full:
            self.failed += 1
            log.error("mirror repair queue full; dropped %s %s (reconcile will repair it)", *item)
        except Exception:  # never let a repair request break the caller
            log.exception("mirror repair request failed")

    def _run(self, app) -> None:
        q = self._q
        while True:
            name, args = q.get()
            try:
                app.extensions["celery"].send_task(name, args=args, retry=False)
                self.sent += 1
                log.info("queued %s%s", name, tuple(args))
            except Exception as exc:
                self.failed += 1
                log.error("could not queue %s%s: %s; the reconcile job will repair it",
                          name, tuple(args), exc)
            finally:
                q.task_done()

    def join(self, timeout: float = 10.0) -> bool:
        """Wait until every queued request was handed over (for tests and shutdown)."""
        q = self._q
        if q is None:
            return True
        deadline = time.monotonic() + timeout
        while q.unfinished_tasks:
            if time.monotonic() > deadline:
                return False
            time.sleep(0.01)
        return True

    def forget(self) -> None:
        """Clear the dedupe memory (tests)."""
        self._recent.clear()


repairs = RepairQueue()
