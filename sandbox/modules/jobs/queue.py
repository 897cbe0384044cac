"""The queue: huey, its messages in a SQLite file of their own, its workers on threads here.

huey is a small task queue. A request *enqueues* a message ("run job 7"); a *consumer*
takes messages off the queue and runs them on its *workers*; a message whose task fails
is put back, to run again after a delay that grows each time (*backoff*). Usually the
consumer is a process of its own (``huey_consumer app.huey``). Here it runs inside the
sandbox's process while the module is on: its workers are threads, so it works the same
on Windows, and it stops when the module is switched off or the server stops.

The messages live in ``jobs.db`` in the data dir, a SQLite file of the queue's own rather
than tables in ``sandbox.db``: huey names its tables ``task``, ``schedule`` and ``kv``
(they would sit among the learner's tables in the SQL console), takes SQLite's exclusive
lock to hand out a message, and its idle workers ask for work twice a second. In a file
of its own none of that touches the sandbox's database. Being a file, the queue survives
a restart: a message not yet run is still there when the server starts again.

``SANDBOX_JOBS_URL`` puts the queue in Redis instead (``redis://host:6379/0``), for
several servers on several machines sharing one queue; it needs ``pip install redis``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from flask import Flask
from huey import RedisHuey, SqliteHuey
from huey.api import Huey, Task
from huey.consumer import Consumer

QUEUE_FILE = "jobs.db"
QUEUE_NAME = "sandbox-jobs"
# An idle worker asks the queue for work after 0.1 s, then a little later each time, but
# never less often than every POLL_MAX seconds (huey's own default is 10 s: a job queued
# after a quiet minute would wait that long to start).
POLL_MAX = 0.5
STOP_SECONDS = 30  # how long stop() waits for the workers to finish what they are doing

logger = logging.getLogger(__name__)
# huey logs every exception a task raises, traceback and all. Unless the application set up
# logging, Python prints those to the console; a failure asked for with fail_times would
# fill a notebook with red. The job's record keeps each failure with its traceback instead
# (GET /sandbox/traces/<id>), and GET /jobs/<id> its error. Logging set up by the
# application (a handler on the root logger) still receives huey's messages.
logging.getLogger("huey").addHandler(logging.NullHandler())


def backend(url: str | None, instance_path: str) -> tuple[type[Huey], dict[str, Any]]:
    """Return the huey class and its options for ``SANDBOX_JOBS_URL`` (None: SQLite)."""
    if url is None:
        return SqliteHuey, {"filename": str(Path(instance_path) / QUEUE_FILE)}
    if url.startswith(("redis://", "rediss://", "unix://")):
        return RedisHuey, {"url": url}
    raise ValueError(
        f"SANDBOX_JOBS_URL={url!r} is not a queue huey can use: leave it unset for the "
        "SQLite file in the data dir, or give redis://host:6379/0 (pip install redis)."
    )


class InProcessConsumer(Consumer):
    """huey's consumer, run on threads inside the web server's process.

    Two of its methods are replaced (read against huey 3.5's consumer.py): the threads'
    names, and the signal handlers it would install.
    """

    def _create_process(self, process: Any, name: str) -> Any:
        thread = super()._create_process(process, name)
        thread.name = f"jobs-{name.lower()}"  # jobs-worker-1, jobs-scheduler: seen in records
        return thread

    def _set_signal_handlers(self) -> None:
        # huey's own consumer process stops gracefully on Ctrl+C by catching SIGINT. Here the
        # web server owns the signals (and Python lets only the main thread set them): the
        # module's stop() is the graceful stop.
        pass


class JobQueue:
    """One app's queue, its task, and its consumer while the module is on."""

    def __init__(self, app: Flask, run: Callable[..., None]):
        huey_class, options = backend(app.config["SANDBOX_JOBS_URL"], app.instance_path)
        # results=False: a job's outcome is kept in the jobs table, where the API reads it.
        self.huey = huey_class(QUEUE_NAME, results=False, **options)
        self.backend = huey_class.__name__.removesuffix("Huey").lower()
        self.workers = int(app.config["SANDBOX_JOBS_WORKERS"])
        self.consumer: InProcessConsumer | None = None
        self._stop_flag: Any = None  # the running consumer's: set when it is told to stop
        # The task: a function the consumer finds by name when it reads a message. Retries
        # are huey's: a task that raises is queued again after retry_delay seconds, and the
        # delay doubles each time (retry_backoff). context=True hands the task to the
        # function, so it knows how many retries are left.
        self.export = self.huey.task(
            retries=int(app.config["SANDBOX_JOBS_RETRIES"]),
            retry_delay=float(app.config["SANDBOX_JOBS_RETRY_DELAY"]),
            retry_backoff=2,
            context=True,
            name="export_notes",
        )(run)

    def message(self, workspace: str, job_id: int, task_id: str | None = None) -> Task:
        """Return the message that will run a job: what a worker needs to find it, no more."""
        return self.export.s(workspace, job_id, id=task_id)

    def enqueue(self, message: Task) -> None:
        """Put a message on the queue, where a worker will find it."""
        self.huey.enqueue(message)

    def stopping(self) -> bool:
        """Return whether the consumer was told to stop (a running job should end soon)."""
        return self._stop_flag is not None and self._stop_flag.is_set()

    def start(self) -> None:
        """Start the workers and the scheduler (which re-queues retries when they are due)."""
        if self.consumer is not None:
            return
        self.consumer = InProcessConsumer(
            self.huey,
            workers=self.workers,
            worker_type="thread",
            periodic=False,  # no cron-like tasks here
            max_delay=POLL_MAX,
            check_worker_health=False,  # that check runs in huey's own consumer loop, not here
            shutdown_timeout=STOP_SECONDS,
        )
        self._stop_flag = self.consumer.stop_flag
        self.consumer.start()

    def stop(self) -> None:
        """Stop gracefully: let each worker finish or put back its job, and wait for them."""
        consumer, self.consumer = self.consumer, None
        if consumer is None:
            return
        consumer.stop(graceful=True)  # sets the stop flag, then joins every thread
        threads = [t for _, t in consumer.worker_threads] + [consumer.scheduler]
        if any(t.is_alive() for t in threads):
            logger.warning("jobs: a worker did not stop within %s s", STOP_SECONDS)
        self.huey.storage.close()

    def counts(self) -> dict[str, int]:
        """Return how many messages wait in the queue, and how many wait for their retry."""
        return {"waiting": self.huey.pending_count(), "scheduled": self.huey.scheduled_count()}
