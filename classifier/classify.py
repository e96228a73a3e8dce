"""The one entry point: request -> answer (models -> facts -> engine -> answer).

The CLI and the service both call `Classifier`; neither has logic of its own. The
timeline semantics of the HTTP contract (docs/integrators.md) live here too, so both share them.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NamedTuple

from classifier import answer, errors
from classifier.engine import Engine
from classifier.facts import HistoryIndex, derive
from classifier.models import (
    BatchRequest,
    CareClosed,
    CareRequest,
    ClassifyRequest,
    Contact,
    HistoryContact,
    InvestigationConcluded,
    TimelineCareRequest,
    TimelineContact,
    TimelineDecision,
    TimelineEvent,
    TimelineRequest,
    TreatmentConcluded,
    _contact_problems,
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

    def __init__(self, rules_dir: str | os.PathLike[str] | None = None, ruleset: RuleSet | None = None,
                 engine: Engine | None = None, explain: bool = True):
        self.ruleset = ruleset or load(rules_dir)
        self.engine = engine or Engine(self.ruleset)
        self.explain = explain

    def for_counting(self) -> Classifier:
        """This classifier for a batch fold that counts its answers (the month, impact on an extract): the
        same engine and its decisions, each answer carrying its id, type, rule, wait and warning codes
        without their explanation (answer.build)."""
        return Classifier(ruleset=self.ruleset, engine=self.engine, explain=False)

    # -- one contact ------------------------------------------------------------------

    def classify(self, payload: object) -> dict[str, Any]:
        """Classify one request object of the HTTP contract; raises InputError naming every bad field."""
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
        provisional = None
        if derived.covered and (matches := self.ruleset.provisional_matches(derived.covered)):
            without = self.engine.decide({**derived.facts, "medication_covered": False})
            if without.rule_id != decision.rule_id:  # the provisional entry decided the answer: say so
                provisional = answer.Provisional(tuple(matches), self.ruleset.rules_by_id[without.rule_id].outcome)
        return answer.build(self.ruleset, decision, derived, contact, care_request, self.explain, provisional)

    # -- many contacts ----------------------------------------------------------------

    def classify_batch(
        self, payload: object, cancelled: threading.Event | None = None,
        rejected: dict[int, list[dict[str, str]]] | None = None,
    ) -> dict[str, Any]:
        """POST /v1/classify/batch: each item answered or given its own error entry, in order."""
        return classify_batch(self.classify, payload, cancelled, rejected)

    def classify_timeline(self, payload: object, cancelled: threading.Event | None = None) -> dict[str, Any]:
        """POST /v1/classify/timeline: each contact with the history the events before it form.

        One `TimelineFold` keeps the folded history and the open care requests and
        decisions, so the cost is linear in the number of events. Any invalid contact
        rejects the whole timeline: nothing half-done is returned.
        """
        timeline = errors.parse(TimelineRequest, payload)
        fold = TimelineFold(self)
        results = []
        for i, event in enumerate(timeline.events):
            _check(cancelled)
            step = fold.add(event, f"events[{i}].")
            if step is not None:
                results.append(step.result)
        return {"results": results, "commitments": commitment_windows(timeline.events, results)}


AREAS = ("investigation", "treatment")  # a contact's area is its activity, when it is one of these


class Step(NamedTuple):
    """One classified timeline contact: the contact and care request it was classified with, and the answer.

    `contact` carries the decision date and wait exclusion it took; `care_request_from` and
    `decision_from` are the events it took them from (None when sent with the contact or absent).
    """

    contact: Contact
    care_request: CareRequest | None
    result: dict[str, Any]
    care_request_from: TimelineCareRequest | None
    decision_from: TimelineDecision | None


@dataclass
class OpenCareRequest:
    event: TimelineCareRequest
    during_commitment: bool  # arrived while a care commitment was ongoing: ended by the next commitment contact
    care_request: CareRequest  # what a contact that takes it is classified with (built once, not per contact)


def _modality_matches(a: str | None, b: str | None) -> bool:
    return a is None or b is None or a == b


class TimelineFold:
    """A patient's events folded one at a time (the timeline of docs/integrators.md §1, docs/month.md §1–2).

    Keeps the history index the rules see and the waits that are open: care requests
    not yet ended by a first visit, a direct start (a measurement point of the new-care-
    commitment stage) or a care_closed; decisions not yet ended by a measurement point of
    their area for their problem, a concluded event of their area for that problem, or a
    care_closed. A contact sent without a care request takes the latest open one; an
    investigation or treatment contact (its area is its activity) sent without a decision
    date takes the latest open decision of its area and problem (modality matched when
    both give one); without a wait exclusion, it takes the exclusion of the event its
    wait starts at. The month layer reads `open_care_requests` and `open_decisions` at
    month ends.
    """

    def __init__(self, classifier: Classifier):
        self.classifier = classifier
        self.index = HistoryIndex.empty(classifier.ruleset)
        self.open_care_requests: list[OpenCareRequest] = []
        self.open_decisions: list[TimelineDecision] = []

    def add(self, event: TimelineEvent, prefix: str = "") -> Step | None:
        """Fold one event in (date order); a contact is classified and its Step returned."""
        if isinstance(event, TimelineContact):
            return self._contact(event, prefix)
        if isinstance(event, TimelineCareRequest):
            self.open_care_requests.append(OpenCareRequest(event, self.index.commitment_ongoing(event.date),
                                                           event.as_care_request()))
        elif isinstance(event, TimelineDecision):
            self.open_decisions.append(event)
        else:
            self.index.add(event)
            if isinstance(event, CareClosed):
                self.open_care_requests.clear()
                self.open_decisions.clear()
            elif isinstance(event, InvestigationConcluded):
                self._end_decisions("investigation", event.health_problem, None)
            elif isinstance(event, TreatmentConcluded):
                self._end_decisions("treatment", event.health_problem, event.treatment_modality)
        return None

    def _end_decisions(self, area: str, problem: str, modality: str | None) -> None:
        self.open_decisions = [
            d for d in self.open_decisions
            if not (d.area == area and d.health_problem == problem
                    and _modality_matches(d.treatment_modality, modality))
        ]

    def _contact(self, event: TimelineContact, prefix: str) -> Step:
        contact, care_request = event.contact, event.care_request
        cr_from = dec_from = None
        if care_request is None and self.open_care_requests:
            taken = self.open_care_requests[-1]
            cr_from, care_request = taken.event, taken.care_request
        if contact.decision_date is None and contact.activity in AREAS:
            dec_from = next((d for d in reversed(self.open_decisions)
                             if d.area == contact.activity and d.health_problem == contact.health_problem
                             and _modality_matches(d.treatment_modality, contact.treatment_modality)), None)
            if dec_from is not None:
                contact = contact.model_copy(update={"decision_date": dec_from.date})
        # The care request is known only now (sent, or taken from an open care_request event):
        # check it against the contact here, e.g. an En väg in contact needs one (docs/definitions.md §5).
        problems = _contact_problems(contact, care_request, prefix)
        if problems:
            taken = f" (the care request taken from the care_request event of {cr_from.date})" if cr_from else ""
            raise errors.InputError([{"path": p, "message": m + taken, "type": "contradiction"}
                                     for p, m in problems])
        classifier = self.classifier
        result = classifier._classify(contact, care_request, self.index, prefix)
        wait = result["wait"]
        if wait is not None and contact.wait_exclusion is None:
            source = cr_from if wait["start_basis"] == "care_request_received" else dec_from
            if source is not None and source.wait_exclusion is not None:
                contact = contact.model_copy(update={"wait_exclusion": source.wait_exclusion})
                result = classifier._classify(contact, care_request, self.index, prefix)
        ctype = result["contact_type"]
        # What history_contact(contact, ctype) would add, without building the model for it.
        self.index.add_contact(contact.date, ctype, contact.health_problem, contact.treatment_modality)
        if ctype == "first_visit" or (result["measurement_point"] and result["rule"]["stage"] == "new_commitment"):
            self.open_care_requests.clear()
        elif ctype in classifier.ruleset.commitment_types:
            self.open_care_requests = [c for c in self.open_care_requests if not c.during_commitment]
        if result["measurement_point"] and ctype in AREAS:
            self._end_decisions(ctype, contact.health_problem, contact.treatment_modality)
        return Step(contact, care_request, result, cr_from, dec_from)


def commitment_windows(events: list[TimelineEvent], results: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The journey's care commitments, so a page draws them without deciding where one ends.

    One window per opening date (each result's `commitment`), from the opening contact to the
    latest `window_ends` of its contacts; a care_closed that follows its last contact (in the
    event order) on or before that end closes it on the closing date instead (docs/definitions.md §4).
    """
    windows: dict[str, dict[str, Any]] = {}
    last: dict[str, int] = {}
    answers = iter(results)
    for i, event in enumerate(events):
        if not isinstance(event, TimelineContact):
            continue
        c = next(answers).get("commitment")
        if c is None:
            continue
        w = windows.setdefault(c["opened"], {"opened": c["opened"], "ends": c["window_ends"], "closed": False})
        w["ends"] = max(w["ends"], c["window_ends"])
        last[c["opened"]] = i
    for opened, w in windows.items():
        close = next((e for e in events[last[opened] + 1:]
                      if isinstance(e, CareClosed) and e.date.isoformat() <= w["ends"]), None)
        if close is not None:
            w["ends"], w["closed"] = close.date.isoformat(), True
    return list(windows.values())


def history_contact(contact: Contact, contact_type: str) -> HistoryContact:
    """A classified contact as the history item later contacts see (the timeline endpoint)."""
    return HistoryContact(
        type="contact",
        date=contact.date,
        setting=contact.setting,
        contact_type=contact_type,
        health_problem=contact.health_problem,
        treatment_modality=contact.treatment_modality,
    )


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


def default_classifier() -> Classifier:
    """The held rule set valid today, from the process's one holding (classifier/rulesets.py)."""
    from classifier.rulesets import default_rulesets

    return default_rulesets().default


def _clear() -> None:
    from classifier.rulesets import default_rulesets

    default_rulesets.cache_clear()  # type: ignore[attr-defined]


default_classifier.cache_clear = _clear  # type: ignore[attr-defined]
