"""The committed OpenAPI document is valid OpenAPI 3.1, as client
generators require, and keeps the properties they rely on."""

import json
import pathlib

from openapi_spec_validator import validate

DOCUMENT = pathlib.Path(__file__).resolve().parents[2] / "openapi" / "openapi.json"


def test_the_document_is_valid_openapi():
    validate(json.loads(DOCUMENT.read_text()))


def test_operation_ids_are_unique_and_every_answer_is_described():
    document = json.loads(DOCUMENT.read_text())
    seen = set()
    for path, item in document["paths"].items():
        for method, operation in item.items():
            operation_id = operation["operationId"]
            assert operation_id not in seen, f"{method} {path}: {operation_id} twice"
            seen.add(operation_id)
            for status, answer in operation["responses"].items():
                assert answer.get("description"), f"{method} {path} {status} says nothing"
