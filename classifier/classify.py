"""The one entry point: request -> answer (models -> facts -> engine -> answer).

The CLI and the service both call `Classifier`; neither has logic of its own. The
timeline semantics of API.md live here too, so both share them.
"""

from __future__ import annotations

import functools
import logging
import os
import threading
from collections.abc import Callable
from typing import Any

from classifier import answer, errors
from classifier.engine import Engine
from classifier.facts import HistoryIndex, derive
from classifier.models import (
    BatchRequest,
    CareRequest,
    ClassifyRequest,
    Contact,
    HistoryContact,
    TimelineContact,
    TimelineRequest,
)
from classifier.ruleset import RuleSet, load

log = logging.getLogger("bup_classifier")
INTERNAL_ITEM_ERROR = {"path": "$", "message": "the service failed on this item; it was not classified",
                       "type": "internal"}


class Cancelled(Exception):
    """The caller gave up (client gone, time limit, shutdown): stop between items."""


def _check(cancelled: threading.Event | None) -> None:
    if cancelled is not None and cancelled.is_set():
        raise Cancelled()


class Classifier:
    """A loaded, checked and compiled rule set, ready to classify contacts."""

    def __init__(self, rules_dir: str | os.PathLike[str] | None = None, ruleset: RuleSet | None = None):
        self.ruleset = ruleset or load(rules_dir)
        self.engine = Engine(self.ruleset)

    # -- one contact ------------------------------------------------------------------

    def classify(self, payload: object) -> dict[str, Any]:
        """Classify one API.md request object; raises InputError naming every bad field."""
        request = errors.parse(ClassifyRequest, payload)
        return self.classify_request(request)

    def classify_request(self, request: ClassifyRequest) -> dict[str, Any]:
        """Classify an already validated request."""
        index = HistoryIndex.from_history(request.history, self.ruleset)
        return self._classify(request.contact, request.care_request, index, "")

    def _classify(
        self, contact: Contact, care_request: CareRequest | None, index: HistoryIndex, prefix: str
    ) -> dict[str, Any]:
        derived = derive(contact, care_request, index, self.ruleset)
        decision = self.engine.decide(derived.facts)
        return answer.build(self.ruleset, decision, derived, contact, care_request)

    # -- many contacts ----------------------------------------------------------------

    def classify_batch(
        self, payload: object, cancelled: threading.Event | None = None,
        rejected: dict[int, list[dict[str, str]]] | None = None,
    ) -> dict[str, Any]:
        """POST /v1/classify/batch: each item answered or given its own error entry, in order."""
        return classify_batch(self.classify, payload, cancelled, rejected)

    def classify_timeline(self, payload: object, cancelled: threading.Event | None = None) -> dict[str, Any]:
        """POST /v1/classify/timeline: each contact with the history the events before it form.

        One `HistoryIndex` is kept and each event folded in as it passes, contacts with
        their own classification, so the cost is linear in the number of events. Any
        invalid contact rejects the whole timeline: nothing half-done is returned.
        """
        timeline = errors.parse(TimelineRequest, payload)
        index = HistoryIndex.empty(self.ruleset)
        results = []
        for i, event in enumerate(timeline.events):
            _check(cancelled)
            if isinstance(event, TimelineContact):
                result = self._classify(event.contact, event.care_request, index, f"events[{i}].")
                results.append(result)
                index.add(history_contact(event.contact, result["contact_type"]))
            else:
                index.add(event)
        return {"results": results}


def history_contact(contact: Contact, contact_type: str) -> HistoryContact:
    """A classified contact as the history item later contacts see (API.md timeline)."""
    return HistoryContact(
        type="contact",
        date=contact.date,
        setting=contact.setting,
        contact_type=contact_type,
        health_problem=contact.health_problem,
        treatment_modality=contact.treatment_modality,
    )


def timeline_requests(timeline: TimelineRequest, results: list[dict[str, Any]]) -> list[ClassifyRequest]:
    """The single-contact request each timeline contact stands for (its derived history).

    Used by the tests to check that a timeline answer equals the single-contact answer.
    """
    requests: list[ClassifyRequest] = []
    history: list[Any] = []
    answers = iter(results)
    for event in timeline.events:
        if isinstance(event, TimelineContact):
            requests.append(
                ClassifyRequest(
                    patient=timeline.patient, contact=event.contact, care_request=event.care_request,
                    history=list(history),
                )
            )
            history.append(history_contact(event.contact, next(answers)["contact_type"]))
        else:
            history.append(event)
    return requests


def classify_batch(
    classify: Callable[[object], dict[str, Any]], payload: object, cancelled: threading.Event | None = None,
    rejected: dict[int, list[dict[str, str]]] | None = None,
) -> dict[str, Any]:
    """A batch through `classify`, one item at a time, in order.

    No item can fail the batch: an item that breaks anything gets an `internal` error
    entry (its traceback is logged, never its content). `rejected` holds the items the
    transport refused already (identity numbers); `cancelled` is checked between items.
    """
    batch = errors.parse(BatchRequest, payload)
    results: list[dict[str, Any]] = []
    for i, item in enumerate(batch.items):
        _check(cancelled)
        if rejected and i in rejected:
            results.append({"index": i, "errors": rejected[i]})
            continue
        try:
            results.append(classify(item))
        except errors.InputError as exc:
            results.append({"index": i, "errors": exc.errors})
        except Exception as exc:  # one item must never fail the batch
            log.error("batch item %d failed", i, exc_info=exc, extra={"event": "batch_item_failed"})
            results.append({"index": i, "errors": [INTERNAL_ITEM_ERROR]})
    return {"results": results}


@functools.cache
def default_classifier() -> Classifier:
    """The process-wide classifier over rules/ (or $BUP_RULES_DIR), loaded once."""
    return Classifier()
