"""Checks HTTP responses against the response schemas of the shared
OpenAPI specifications (OpenAPI 3.1 and Swagger 2.0 alike).

The specs use OpenAPI's `nullable: true` (and Swagger's `x-nullable`), which
JSON Schema does not know; they are rewritten into `null` alternatives first.
"""

import json
import pathlib
import re

import yaml
from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012


def _allow_null(node):
    if isinstance(node, list):
        return [_allow_null(item) for item in node]
    if not isinstance(node, dict):
        return node
    node = {key: _allow_null(value) for key, value in node.items()}
    if node.get("type") == "file":  # Swagger 2.0 binary bodies
        node.pop("type")
    nullable = node.pop("nullable", False) or node.pop("x-nullable", False)
    if not nullable:
        return node
    if isinstance(node.get("type"), str):
        node["type"] = [node["type"], "null"]
        if "enum" in node:
            node["enum"] = [*node["enum"], None]
        return node
    return {"anyOf": [node, {"type": "null"}]}


def _pointer_escape(segment: str) -> str:
    return segment.replace("~", "~0").replace("/", "~1")


class Spec:
    """One specification document: its paths, and validation against it."""

    def __init__(self, path: pathlib.Path, prefixes: tuple[str, ...]):
        raw = path.read_text()
        document = json.loads(raw) if path.suffix == ".json" else yaml.safe_load(raw)
        self.uri = f"urn:spec:{path.name}"
        self.document = _allow_null(document)
        self.swagger2 = "swagger" in document
        self.registry = Registry().with_resource(
            self.uri, Resource.from_contents(self.document, default_specification=DRAFT202012)
        )
        self.operations = {}
        for template, item in self.document["paths"].items():
            if not template.startswith(prefixes):
                continue
            for method, operation in item.items():
                if method in ("get", "post", "delete"):
                    self.operations[(method.upper(), template)] = operation

    def template_for(self, method: str, path: str):
        # Literal segments win over parameters: `/threads/runs` is not `/threads/{thread_id}`.
        candidates = sorted(self.operations, key=lambda key: key[1].count("{"))
        for (op_method, template) in candidates:
            pattern = "^" + re.sub(r"\{[^}]+\}", "[^/]+", template) + "$"
            if op_method == method and re.match(pattern, path):
                return template
        return None

    def _response_pointer(self, method: str, template: str, status: int):
        responses = self.operations[(method, template)]["responses"]
        code = str(status) if str(status) in responses else "default"
        if code not in responses:
            return None
        response = responses[code]
        base = f"/paths/{_pointer_escape(template)}/{method.lower()}/responses/{code}"
        if self.swagger2:
            return f"{base}/schema" if "schema" in response else None
        content = response.get("content", {})
        if "application/json" not in content:
            return None
        return f"{base}/content/application~1json/schema"

    def validate_pointer(self, pointer: str, body):
        validator = Draft202012Validator({"$ref": f"{self.uri}#{pointer}"}, registry=self.registry)
        errors = sorted(validator.iter_errors(body), key=lambda e: list(e.absolute_path))
        if errors:
            details = "\n".join(
                f"  at {'/'.join(map(str, e.absolute_path)) or '<root>'}: {e.message[:300]}" for e in errors[:5]
            )
            raise AssertionError(f"response does not match {pointer}:\n{details}\nbody: {json.dumps(body)[:1500]}")

    def validate_response(self, method: str, template: str, status: int, body):
        pointer = self._response_pointer(method, template, status)
        if pointer is None:
            raise AssertionError(f"the spec declares no JSON response {status} for {method} {template}")
        self.validate_pointer(pointer, body)

    def validate_component(self, name: str, body):
        section = "/definitions" if self.swagger2 else "/components/schemas"
        self.validate_pointer(f"{section}/{name}", body)
