"""The decision log (issue 15): every answer recorded, read back, replayed under a candidate.

- `schema`, `migrations/`: the tables, created and upgraded by alembic.
- `store`: write, read, list, export and purge (SQLAlchemy Core; SQLite or PostgreSQL).
- `writer`: group commit in a writer process beside each service worker, with an optional spool file.
- `replay`: classify logged (or example) requests under two rule sets and report the change.

Configuration comes from the environment, so every uvicorn worker reads the same:
BUP_DECISION_LOG (URL; unset = off), BUP_DECISION_LOG_STORE (request | digest),
BUP_DECISION_LOG_SPOOL (a directory: keep answering and spool when the database fails),
BUP_DECISION_LOG_RETENTION_DAYS (purge older decisions; 0 = keep), BUP_DECISION_LOG_TIMEOUT
(seconds a request waits for its decision to be recorded before it gets 503; default 5).
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from classifier.decisions.store import Purger
from classifier.decisions.writer import DEFAULT_TIMEOUT_S, DecisionLog, LogUnavailable, Pending, new_id

DEFAULT_RETENTION_DAYS = 730


def from_env(statuses: Mapping[str, str]) -> DecisionLog | None:
    """The log the environment asks for, or None when it is off (`statuses`: each rule-set version's status)."""
    url = os.environ.get("BUP_DECISION_LOG")
    if not url:
        return None
    store_mode = os.environ.get("BUP_DECISION_LOG_STORE", "request")
    if store_mode not in ("request", "digest"):
        raise ValueError(f"BUP_DECISION_LOG_STORE: expected 'request' or 'digest', got {store_mode!r}")
    timeout = float(os.environ.get("BUP_DECISION_LOG_TIMEOUT", DEFAULT_TIMEOUT_S))
    return DecisionLog(url, keep_request=store_mode == "request", spool_dir=os.environ.get("BUP_DECISION_LOG_SPOOL"),
                       statuses=statuses, timeout=timeout)


def purger_from_env() -> Purger | None:
    """The retention purge the environment asks for, started (None when the log is off or keeps everything).
    The service's main process runs it, so a service purges once, whatever its number of workers."""
    url = os.environ.get("BUP_DECISION_LOG")
    days = int(os.environ.get("BUP_DECISION_LOG_RETENTION_DAYS", DEFAULT_RETENTION_DAYS))
    return Purger(url, days).start() if url and days > 0 else None


__all__ = ["DEFAULT_RETENTION_DAYS", "DEFAULT_TIMEOUT_S", "DecisionLog", "LogUnavailable", "Pending", "Purger",
           "from_env", "new_id", "purger_from_env"]
