"""A stand-in for `munijobs crawl SOURCE` in scheduler tests: takes the real crawl lock and records a run like it.

Run as `python tests/fakes/fake_crawl.py SOURCE`; the environment says how it behaves:

* FAKE_CRAWL_LOG: file that gets one JSON line per event (start, end, locked) with source, pid and time;
* FAKE_CRAWL_SECONDS: how long the crawl takes (default 0);
* FAKE_CRAWL_STATUS (or FAKE_CRAWL_STATUS_<SOURCE>): ok, partial, failed, or crash (exit 2, run left running);
* FAKE_CRAWL_ON_TERM: finish (default: on SIGTERM record a failed run, as Scrapy's clean shutdown does) or ignore.

Exit codes as `munijobs crawl`: 0 ok or partial, 1 failed, 3 locked.
"""

from __future__ import annotations

import os
import signal

TERMINATED: list[bool] = []
"""Set on SIGTERM, which is caught from the start so that even an early stop records a failed run."""
signal.signal(signal.SIGTERM, signal.SIG_IGN if os.environ.get("FAKE_CRAWL_ON_TERM") == "ignore"
              else lambda *_: TERMINATED.append(True))

import json  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from datetime import timedelta  # noqa: E402

from munijobs.constants import RunStatus  # noqa: E402
from storage.db import ensure_schema, ensure_source, get_engine  # noqa: E402
from storage.locks import acquire  # noqa: E402
from storage.runs import RunCounts, finish_run, start_run  # noqa: E402


def record(source: str, event: str, **extra) -> None:
    path = os.environ.get("FAKE_CRAWL_LOG")
    if path:
        with open(path, "a", encoding="utf-8") as log:
            log.write(
                json.dumps({"source": source, "event": event, "pid": os.getpid(), "time": time.time(), **extra}) + "\n"
            )


def main() -> int:
    source = sys.argv[1]
    engine = ensure_schema(get_engine(os.environ["DATABASE_URL"]))
    ensure_source(engine, source)
    lease = acquire(engine, source, ttl=timedelta(seconds=float(os.environ.get("CRAWL_LOCK_TTL", "300"))))
    if lease is None:
        record(source, "locked")
        return 3
    run_id = start_run(engine, source)
    lease.attach_run(run_id)
    record(source, "start", run_id=run_id)
    deadline = time.monotonic() + float(os.environ.get("FAKE_CRAWL_SECONDS", "0"))
    while time.monotonic() < deadline and not TERMINATED:
        time.sleep(0.02)
    status = os.environ.get(f"FAKE_CRAWL_STATUS_{source.upper()}") or os.environ.get("FAKE_CRAWL_STATUS", "ok")
    if TERMINATED:
        status = "failed"
    if status == "crash":
        record(source, "crash", run_id=run_id)
        os._exit(2)
    items = int(os.environ.get("FAKE_CRAWL_ITEMS", "5"))
    finish_run(
        engine,
        run_id,
        RunStatus(status),
        RunCounts(items_seen=items),
        stats={
            "finish_reason": "shutdown" if TERMINATED else "finished",
            "coverage/postings": items,
            **{f"coverage/{name}": items for name in ("title", "employer_name", "municipality_code", "deadline_kind")},
        },
    )
    lease.release()
    record(source, "end", run_id=run_id, status=status)
    return 1 if status == "failed" else 0


if __name__ == "__main__":
    sys.exit(main())
