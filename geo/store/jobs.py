"""Background jobs: long analyses queue in the ``job`` table and one worker runs them in turn.

A request whose analysis is too long to compute while the user waits calls
:func:`submit`: it finds the job of the same parameters and data version, or
queues a new one, and answers "pending" at once. The worker claims queued jobs
atomically (``UPDATE … WHERE status = 'queued'``, checked by its row count, so
several processes may run workers) and runs them one at a time; heavy requests
wait in the queue instead of occupying every web worker. The result is stored in
the row as text (GeoJSON or JSON, never pickle), so any web process can serve it.

``JOB_WORKER=thread`` (the default) starts a daemon thread in each process on
first use, which ends after a while without work; ``JOB_WORKER=external`` leaves
the queue to ``flask --app server worker``.

A running job tells how far it is: the runner gets a ``report(progress, stage)``
callback (``progress`` 0..1, ``stage`` a catalogue msgid such as "Computing the
forecast"), written to the row's ``progress`` and ``stage``; the page shows it in
the reader's language, and a queued job its place in the queue
(:func:`queue_position`).

The queue is written here rather than taken from Celery or RQ: those need a
broker (Redis, RabbitMQ), which the embedded SQLite deployment does not have.
huey with its SQLite storage would be a second queue beside this one, with no
gain: this table already is an embedded SQLite queue, shared by every process
of the store (SQLite or PostgreSQL), and it also keeps each result, its progress
and its key (equal requests share one job), which huey would need a table for
anyway. One queue, so there is one place to look when a page waits.

A deployment with Redis needs no change here: several web processes and
`flask --app server worker` processes already share this table (JOB_WORKER=external
leaves the web processes free of analyses). Swapping in RQ would mean replacing
:func:`submit` (enqueue), :func:`claim`/:func:`work` (the RQ worker) and
:func:`reporter` (``job.meta``) while keeping the row for the key and the result;
that adapter is not written, because nothing needs it yet.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import threading
import time
from contextlib import contextmanager
from typing import Callable

from sqlalchemy import func, insert, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import OperationalError

from geo.errors import InputError, message
from geo.store.models import Job, make_engine, utcnow

log = logging.getLogger(__name__)

# kind prefix ("api", "page") -> runner(app, params, report) -> result text; registered by the web layer
RUNNERS: dict[str, Callable] = {}
IDLE_SECONDS = 60  # a worker thread ends after this long without a job
POLL_SECONDS = 0.5
STALE_SECONDS = 3600  # a job "running" this long lost its worker (the process died): run it again


def register(prefix: str, runner: Callable) -> None:
    RUNNERS[prefix] = runner


@contextmanager
def _writing(engine: Engine):
    """A transaction that reads and then writes: on SQLite it takes the write lock at BEGIN
    (IMMEDIATE), so that two of them wait for each other instead of failing as "locked"."""
    with engine.connect().execution_options(sqlite_begin="IMMEDIATE") as conn, conn.begin():
        yield conn


def job_key(kind: str, params: dict, version) -> str:
    return hashlib.sha256(json.dumps([kind, params, list(version)], sort_keys=True, default=str)
                          .encode()).hexdigest()


# every column but the result, which may be megabytes: it is read once, by result(), when it is used
_STATE = [c for c in Job.__table__.c if c.name != "result"]


def find(engine: Engine, job_id: int):
    """The job's row without its result (see :func:`result`); None when there is none."""
    with engine.connect() as conn:
        return conn.execute(select(*_STATE).where(Job.id == job_id)).first()


def result(engine: Engine, job_id: int) -> str | None:
    """The finished job's result text."""
    with engine.connect() as conn:
        return conn.execute(select(Job.result).where(Job.id == job_id)).scalar()


def submit(app, engine: Engine, kind: str, params: dict, version, *, start_worker: bool = True):
    """The job of ``kind`` with ``params`` over data ``version``: the existing one or a new queued
    one. Returns its row without the result (``id``, ``status``, ``error``, ``progress``…; the
    result: :func:`result`). ``params["url"]``, where the
    result is asked for, is kept but is not part of the key. ``start_worker=False`` only queues it
    (a command-line process that ends before the job would)."""
    key = job_key(kind, {k: v for k, v in params.items() if k != "url"}, version)
    newest = select(*_STATE).where(Job.key == key).order_by(Job.id.desc()).limit(1)
    with engine.connect() as conn:  # the usual case, a job that exists, takes no write lock
        row = conn.execute(newest).first()
    if row is None:
        with _writing(engine) as conn:
            row = conn.execute(newest).first()
            if row is None:
                conn.execute(insert(Job).values(key=key, kind=kind, params=json.dumps(params, default=str),
                                                status="queued", created_at=utcnow()))
                row = conn.execute(newest).first()
    if start_worker and row.status in ("queued", "running") and app.config.get("JOB_WORKER", "thread") == "thread":
        ensure_thread(app)
    return row


def waiting(engine: Engine) -> bool:
    """Whether a job waits in the queue."""
    with engine.connect() as conn:
        return conn.execute(select(Job.id).where(Job.status == "queued").limit(1)).first() is not None


def claim(engine: Engine):
    """Take the oldest queued job (or a stale running one) for this worker; None when there is none.
    The queue is read without a lock; the job is taken by an UPDATE that only one worker wins."""
    stale = utcnow().timestamp() - STALE_SECONDS
    with engine.connect() as conn:
        cand = conn.execute(select(Job.id, Job.status, Job.started_at).where(
            Job.status.in_(("queued", "running"))).order_by(Job.id)).all()
    for c in cand:
        if c.status == "running" and (c.started_at is None or _ts(c.started_at) >= stale):
            continue
        with engine.begin() as conn:
            n = conn.execute(update(Job).where(Job.id == c.id, Job.status == c.status,
                                               _same(Job.started_at, c.started_at))
                             .values(status="running", started_at=utcnow())).rowcount
        if n == 1:
            return find(engine, c.id)
        # another worker took it first: try the next one
    return None


def _same(column, value):
    return column.is_(None) if value is None else column == value


def _ts(value) -> float:
    if isinstance(value, str):  # SQLite returns text for some drivers
        value = dt.datetime.fromisoformat(value)
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.timezone.utc)
    return value.timestamp()


def queue_position(engine: Engine, job) -> int:
    """How many jobs run or wait before ``job`` (0 when it runs or is next)."""
    if job.status != "queued":
        return 0
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(Job).where(
            Job.status.in_(("queued", "running")), Job.id != job.id,
            (Job.status == "running") | (Job.id < job.id))).scalar())


def reporter(engine: Engine, job_id: int) -> Callable[[float, str], None]:
    """The ``report(progress, stage)`` of a running job: writes how far it is into its row. Progress
    is for the reader only, so a store busy with a write (an import) skips it instead of waiting."""

    def report(progress: float, stage: str) -> None:
        try:
            with engine.begin() as conn:
                conn.execute(update(Job).where(Job.id == job_id, Job.status == "running")
                             .values(progress=min(max(float(progress), 0.0), 1.0), stage=stage))
        except OperationalError as exc:
            log.debug("job %s: progress not written: %s", job_id, exc)
    return report


def run(app, engine: Engine, job) -> None:
    """Run one claimed job and store its result or its error."""
    values = dict(finished_at=None)
    try:
        with app.app_context():
            result = RUNNERS[job.kind.split(":", 1)[0]](app, json.loads(job.params), reporter(engine, job.id))
        values.update(status="done", result=result, progress=1.0)
    except InputError as exc:  # the parameters do not fit the data: the user's to change
        # in the language of the request that asked (page and API jobs carry it)
        values.update(status="failed", error=message(exc, json.loads(job.params).get("lang") or None) or "error")
    except Exception:  # a fault: logged for the administrator, the user is told it failed
        log.exception("job %s (%s) failed", job.id, job.kind)
        values.update(status="failed", error="")
    values["finished_at"] = utcnow()
    with engine.begin() as conn:
        conn.execute(update(Job).where(Job.id == job.id).values(**values))


def work(app, engine: Engine, *, idle_seconds: float | None = None, stop: threading.Event | None = None,
         thread_key: str | None = None) -> int:
    """Run jobs one at a time until ``stop`` is set or, with ``idle_seconds``, no job came for that
    long. Returns the number of jobs run."""
    done, idle_since = 0, time.monotonic()
    while not (stop and stop.is_set()):
        try:
            job = claim(engine)
        except OperationalError as exc:  # the store is busy (a long import) or down: wait, try again
            log.warning("job queue unavailable: %s", exc)
            time.sleep(5)
            continue
        if job is None:
            if idle_seconds is not None and time.monotonic() - idle_since > idle_seconds:
                with _lock:  # a job submitted now sees no thread and starts one, or is found here
                    job = claim(engine)
                    if job is None:
                        _threads.pop(thread_key, None)
                        return done
            else:
                time.sleep(POLL_SECONDS)
                continue
        run(app, engine, job)
        done += 1
        idle_since = time.monotonic()
    return done


_lock = threading.Lock()
_threads: dict[str, threading.Thread] = {}


def ensure_thread(app) -> None:
    """Start this process's worker thread for the app's store unless it runs."""

    url = app.config["DATABASE_URL"]
    with _lock:
        t = _threads.get(url)
        if t is not None and t.is_alive():
            return
        eng = make_engine(url)
        t = threading.Thread(target=work, args=(app, eng), kwargs={"idle_seconds": IDLE_SECONDS, "thread_key": url},
                             name="hotspot-jobs", daemon=True)
        _threads[url] = t
        t.start()
