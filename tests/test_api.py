"""API.md over HTTP (in-process TestClient): names, shapes, status codes, strict input."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from classifier import examples
from classifier.models import BatchResponse, Classification, TimelineResponse
from tests.client import client
from tests.helpers import contact, hist, request

ALL = examples.load()
SINGLE = [e for e in ALL if e.request and "error_paths" not in e.expect]
GOOD = request(contact("2026-02-26"), care_request={"received_date": "2026-02-02", "pathway": "A"})


def post(path: str, body: object) -> tuple[int, dict]:
    r = client.post(path, json=body)
    return r.status_code, r.json()


@pytest.mark.parametrize("example", SINGLE, ids=[e.name for e in SINGLE])
def test_classify_answers_as_the_classifier_does(classifier, example) -> None:
    status, body = post("/v1/classify", example.request)
    assert status == 200
    assert body == json.loads(json.dumps(classifier.classify(example.request)))
    Classification.model_validate(body)


def test_batch_answers_in_order_with_errors_in_place(classifier) -> None:
    bad = request(contact("2026-02-26", setting="moon"))
    status, body = post("/v1/classify/batch", {"items": [GOOD, bad, GOOD]})
    assert status == 200
    BatchResponse.model_validate(body)
    first, err, last = body["results"]
    assert first == last == json.loads(json.dumps(classifier.classify(GOOD)))
    assert err == {"index": 1, "errors": [
        {"path": "contact.setting", "message": "expected one of 'bup', 'evi', got 'moon'",
         "message_sv": "ska vara ett av 'bup', 'evi', skickat: 'moon'", "type": "literal_error"}]}


def test_batch_limits() -> None:
    assert post("/v1/classify/batch", {"items": []})[0] == 422
    status, body = post("/v1/classify/batch", {"items": [{}] * 10001})
    assert status == 422 and body["errors"][0]["path"] == "items"
    assert post("/v1/classify/batch", {"items": [GOOD], "extra": 1})[1]["errors"][0]["path"] == "extra"


@pytest.mark.parametrize("journey", [e for e in ALL if e.timeline], ids=lambda e: e.name)
def test_timeline(classifier, journey) -> None:
    status, body = post("/v1/classify/timeline", journey.timeline)
    assert status == 200
    TimelineResponse.model_validate(body)
    assert body == json.loads(json.dumps(classifier.classify_timeline(journey.timeline)))


def test_ruleset_and_health() -> None:
    rs = client.get("/v1/ruleset").json()
    assert {"name", "version", "sha256", "rules"} <= set(rs)
    assert [r["id"] for r in rs["rules"]][:4] == ["S1", "S2", "S3", "A1"]
    for r in rs["rules"]:
        assert {"id", "stage", "title_sv", "title_en", "source", "outcome"} <= set(r)
    health = client.get("/health").json()
    assert health == {"status": "ok", "ruleset": {k: rs[k] for k in ("name", "version", "sha256", "status")}}


@pytest.mark.parametrize(
    "ref",
    ["201203121234", "20120312-1234", "20120312+1234", "1203121234", "120312-1234", "120312+1234",
     "201203721234", "120372-1234"],
)
def test_personal_identity_numbers_are_rejected(ref: str) -> None:
    status, body = post("/v1/classify", {**GOOD, "patient": {"ref": ref}})
    assert status == 422 and [e["path"] for e in body["errors"]] == ["patient.ref"]
    assert ref not in json.dumps(body), "the error never echoes the identity number"


@pytest.mark.parametrize(
    ("mutate", "path"),
    [
        (lambda r: r["contact"].update(colour="red"), "contact.colour"),
        (lambda r: r.update(extra=True), "extra"),
        (lambda r: r["contact"].update(urgent="true"), "contact.urgent"),
        (lambda r: r["contact"].update(date="2026-02-29"), "contact.date"),
        (lambda r: r["contact"].update(date="26-02-2026"), "contact.date"),
        (lambda r: r["contact"].pop("setting"), "contact.setting"),
        (lambda r: r["contact"].update(medications_atc=["methylphenidate"]), "contact.medications_atc[0]"),
        (lambda r: r["contact"].update(kva_codes=["D011"]), "contact.kva_codes[0]"),
        (lambda r: r["contact"].update(wait_exclusion="XYZ"), "contact.wait_exclusion"),
        (lambda r: r["care_request"].update(pathway="D"), "care_request.pathway"),
        (lambda r: r["care_request"].update(received_date="2026-03-01"), "care_request.received_date"),
        (lambda r: r["contact"].update(decision_date="2026-02-27"), "contact.decision_date"),
        (lambda r: r["contact"].update(setting="evi"), "care_request.pathway"),
        (lambda r: r.update(history=[hist("2026-02-27", "first_visit")]), "history[0].date"),
        (lambda r: r.update(history=[{"type": "care_closed"}]), "history[0].date"),
        (lambda r: r.update(history=[{"type": "closed", "date": "2026-01-01"}]), "history[0].type"),
        (lambda r: r.update(history=[hist("2026-01-01", "first_visit")] * 5001), "history"),
    ],
)
def test_bad_input_is_422_naming_the_field(mutate, path: str) -> None:
    req = json.loads(json.dumps(GOOD))
    mutate(req)
    status, body = post("/v1/classify", req)
    assert status == 422, body
    assert path in [e["path"] for e in body["errors"]]
    assert all(e["message"] for e in body["errors"])


def test_size_and_media_type_guards() -> None:
    big = b'{"contact": "' + b"x" * (1024 * 1024) + b'"}'
    assert client.post("/v1/classify", content=big, headers={"content-type": "application/json"}).status_code == 413

    def chunks():
        for _ in range(20):
            yield b" " * 65536  # no Content-Length: counted while streaming
    r = client.post("/v1/classify", content=chunks(), headers={"content-type": "application/json"})
    assert r.status_code == 413
    assert client.post("/v1/classify", content=b"{}", headers={"content-type": "text/plain"}).status_code == 415
    r = client.post("/v1/classify", content=b"{not json", headers={"content-type": "application/json"})
    assert r.status_code == 415 and r.json()["errors"][0]["type"] == "json_invalid"
    r = client.post("/v1/classify", content=b"\xff\xfe", headers={"content-type": "application/json"})
    assert r.status_code == 415


def test_openapi_has_a_worked_example_on_every_endpoint() -> None:
    spec = client.get("/openapi.json").json()
    for path in ("/v1/classify", "/v1/classify/batch", "/v1/classify/timeline"):
        op = spec["paths"][path]["post"]
        assert op["requestBody"]["content"]["application/json"]["examples"]
        assert op["responses"]["200"]["content"]["application/json"]["example"]
        assert {"413", "415", "422"} <= set(op["responses"])
    for path in ("/v1/ruleset", "/health"):
        assert spec["paths"][path]["get"]["responses"]["200"]["content"]["application/json"]["example"]
    assert client.get("/docs").status_code == 200


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4),
    max_leaves=20,
)


@given(body=json_values, path=st.sampled_from(["/v1/classify", "/v1/classify/batch", "/v1/classify/timeline"]))
def test_no_json_value_gives_a_server_error(body, path: str) -> None:
    r = client.post(path, content=json.dumps(body), headers={"content-type": "application/json"})
    assert r.status_code in (200, 422), r.text
    if r.status_code == 422:
        assert all(e["path"] and e["message"] for e in r.json()["errors"])


def test_the_workbench_page_and_its_library_are_served() -> None:
    page = client.get("/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert '<script src="/workbench/static/workbench.js">' in page.text
    for asset in ("workbench.js", "workbench.css"):
        assert client.get(f"/workbench/static/{asset}").status_code == 200
    lib = client.get("/workbench/library").json()
    assert [e["name"] for e in lib["examples"]] == [e.name for e in ALL]
    assert {e["section"] for e in lib["examples"]} <= {s["id"] for s in lib["sections"]}
    assert set(lib["facts"]) >= {"new_care_commitment", "direct_start_allowed"}
    assert all(f["label_sv"] and f["label_en"] for f in lib["facts"].values())
    assert lib["definitions"]["anchors"]["6.3"] == "63-new-care-commitment-n1n5"
    assert set(lib["rules"]) >= {"N1", "N2", "U1"}
    assert "/workbench" not in json.dumps(client.get("/openapi.json").json()["paths"])  # not part of the API


def test_a_new_example_is_recorded_from_todays_answer(classifier) -> None:
    case = SINGLE[0]
    r = client.post("/workbench/example", json={"title": "Mitt fall", "story": "Berättelse.", "request": case.request})
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/yaml")
    assert r.headers["content-disposition"] == 'attachment; filename="mitt_fall.yaml"'
    doc = yaml.safe_load(r.text)
    answer = classifier.classify(case.request)
    assert doc["expect"]["rule"] == answer["rule"]["id"] and doc["fires"] == [answer["rule"]["id"]]
    rejected = {"title": "Avvisat", "story": "Fel datum.", "request": {"contact": {"date": "2026-02-30"}}}
    doc = yaml.safe_load(client.post("/workbench/example", json=rejected).text)
    assert "contact.date" in doc["expect"]["error_paths"] and doc["fires"] == []
    empty = yaml.safe_load(client.post("/workbench/example", json={"title": "Tomt", "story": "Inget.",
                                                                    "request": {}}).text)
    assert empty["request"] == {} and "contact" in empty["expect"]["error_paths"]


@pytest.mark.parametrize("body, path", [
    ({"story": "x", "request": {}}, "title"),
    ({"title": "t", "story": "barn 0501011234", "request": {}}, "story"),
    ({"title": "t", "story": "x"}, "request"),
    ({"title": "t", "story": "x", "request": {}, "timeline": {}}, "request"),
    ({"title": "t", "story": "x", "request": {}, "extra": 1}, "extra"),
])
def test_a_new_example_needs_title_story_and_one_case(body: dict, path: str) -> None:
    status, answer = post("/workbench/example", body)
    assert status == 422 and path in [e["path"] for e in answer["errors"]]


def test_a_case_with_an_identity_number_is_never_recorded() -> None:
    """A rejected case is written back as sent, so the identity number must stop at the door."""
    case = {"patient": {"ref": "19121212-1212"}, "contact": {"id": "c", "date": "2026-01-01"}}
    status, answer = post("/workbench/example", {"title": "t", "story": "x", "request": case})
    assert status == 422 and [e["path"] for e in answer["errors"]] == ["request.patient.ref"]
    assert "19121212" not in json.dumps(answer)
    timeline = {"events": [{"type": "contact", "contact": {"id": "201212121212"}}]}
    status, answer = post("/workbench/example", {"title": "t", "story": "x", "timeline": timeline})
    assert status == 422 and [e["path"] for e in answer["errors"]] == ["timeline.events[0].contact.id"]


# ---- issue 23: the response half described, the commitments from the server, one home for the words ----


def _schema_names(node: object) -> set[str]:
    return set(re.findall(r'"#/components/schemas/([^"]+)"', json.dumps(node)))


def test_every_field_of_every_response_schema_has_a_description() -> None:
    spec = client.get("/openapi.json").json()
    schemas = spec["components"]["schemas"]
    todo = set().union(*(_schema_names(op.get("responses", {})) for ops in spec["paths"].values()
                         for op in ops.values()))
    seen: set[str] = set()
    missing = []
    while todo:
        name = todo.pop()
        seen.add(name)
        for prop, body in schemas[name].get("properties", {}).items():
            if not body.get("description"):
                missing.append(f"{name}.{prop}")
            todo |= _schema_names(body) - seen
    assert {"Classification", "Wait", "RuleRef", "RuleSetRef", "Warning", "TimelineResponse", "MonthAudit",
            "MonthlyReport"} <= seen
    assert missing == []
    for path in ("/v1/months", "/v1/reports/monthly"):  # a real schema, not {"type": "object"}
        schema = spec["paths"][path]["post"]["responses"]["200"]["content"]["application/json"]["schema"]
        assert "$ref" in schema, path


def test_the_month_and_report_answers_are_what_their_schemas_say() -> None:
    from api.docs import REPORT_EXAMPLE, MonthAudit, MonthlyReport
    from classifier.privacy import looks_like_identity_number

    lines = (Path(__file__).resolve().parent.parent / "examples" / "month" / "extract.csv").read_text(
        encoding="utf-8").splitlines(keepends=True)
    # the simulated region, without its three rows with an identity number (refused at the door)
    extract = "".join(line for line in lines if not looks_like_identity_number(line))
    for publish in (False, True):
        status, body = post("/v1/months", {"month": "2026-03", "csv": extract, "publish": publish})
        assert status == 200 and body["units"] and body["findings"]
        MonthAudit.model_validate(body)
    status, body = post("/v1/reports/monthly", REPORT_EXAMPLE)
    assert status == 200 and body["figures"]
    MonthlyReport.model_validate(body)


def test_the_timeline_answer_says_where_each_commitment_ends() -> None:
    """timeline/02: care closed on 2025-08-15 ends the first commitment; the second runs 12 months from a4."""
    journey = next(e for e in ALL if e.name == "timeline/02_return_after_closed_care")
    status, body = post("/v1/classify/timeline", journey.timeline)
    assert status == 200
    assert body["commitments"] == [{"opened": "2025-03-10", "ends": "2025-08-15", "closed": True},
                                   {"opened": "2026-02-16", "ends": "2027-03-09", "closed": False}]
    # a care_closed after the window had run out closes nothing
    events = [{"type": "contact", "contact": {"id": "a", "date": "2024-01-10", "setting": "bup",
                                              "activity": "assessment", "health_problem": "F41"},
               "care_request": {"received_date": "2024-01-02", "pathway": "A"}},
              {"type": "care_closed", "date": "2025-06-01"}]
    status, body = post("/v1/classify/timeline", {"events": events})
    assert body["commitments"] == [{"opened": "2024-01-10", "ends": "2025-01-10", "closed": False}]


def test_the_pages_take_their_choices_and_labels_from_the_server() -> None:
    """The page's selects list what the models allow, sent by the server; no page keeps a copy of a label
    of the tables or of a list of allowed values (a second copy would drift)."""
    from typing import get_args

    from classifier import models

    lib = client.get("/workbench/library").json()
    assert lib["options"]["contact_type"] == list(get_args(models.ContactType))
    assert lib["options"]["activity"] == list(get_args(models.Activity))
    assert lib["options"]["exclusion"] == list(get_args(models.Exclusion))
    assert lib["options"]["event"] == ["contact", "investigation_concluded", "treatment_concluded", "care_closed"]
    assert set(lib["findings"]) >= {"duplicate_id", "rejected_row"}
    pages = Path(__file__).resolve().parent.parent / "api" / "workbench"
    text = {p.name: p.read_text(encoding="utf-8") for p in sorted(pages.iterdir()) if p.suffix in (".js", ".html")}
    words = [v[k] for v in lib["contact_types"].values() for k in ("label_sv", "label_en")]
    words += [v[k] for v in lib["exclusions"].values() for k in ("name_sv", "name_en")]
    words += [i[k] for i in lib["checklist"] for k in ("text_sv", "text_en")]
    words += list(lib["findings"].values())
    # The page's words for the request's own values (activity etc.: no table holds them) may equal a
    # table's label ("Utredning" is an activity and a contact type); every other quoted copy is a second home.
    own = set(re.findall(r'"([^"]+)"', "".join(re.findall(r'^\s*"opt\.[^\n]*', text["workbench.js"], re.M))))
    copies = [(name, w) for name, t in text.items() for w in set(words) - own if f'"{w}"' in t or f">{w}<" in t]
    assert copies == []
    allowed = [set(v) for v in lib["options"].values() if len(v) > 1]
    arrays = [(name, m) for name, t in text.items() for m in re.findall(r"\[((?:\s*\"[\w-]+\"\s*,?)+)\]", t)
              if set(re.findall(r"\"([\w-]+)\"", m)) in allowed]
    assert arrays == []


def test_a_swedish_message_has_no_english_inside() -> None:
    """The byte-order-mark error and a 'ja' for a boolean were English, or contradictory, inside message_sv."""
    r = client.post("/v1/classify", content=b"\xef\xbb\xbf" + json.dumps(GOOD).encode(),
                    headers={"Content-Type": "application/json"})
    assert r.status_code == 415
    sv = r.json()["errors"][0]["message_sv"]
    assert sv == "ska vara JSON i UTF-8 utan byte-ordningsmärke (BOM)"
    status, body = post("/v1/classify", request(contact("2026-02-26", urgent="ja")))
    assert status == 422
    (err,) = body["errors"]
    assert err["path"] == "contact.urgent" and "(ja/nej)" not in err["message_sv"]
    assert err["message_sv"] == "ska vara ett sanningsvärde, true eller false utan citattecken, skickat: 'ja'"
    status, body = post("/v1/months", {"month": "mars", "csv": "patient_ref\n"})
    assert status == 422 and body["errors"][0]["message_sv"] == "ska vara en månad som 'ÅÅÅÅ-MM' under åren 1900–2100"
