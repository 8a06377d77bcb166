"""stix2-validator's messages as Vigil lists them: the object's id is named once, by the listing."""

from __future__ import annotations

from vigil.exchange.stix_import import validation_errors


def test_errors_do_not_repeat_the_object_id() -> None:
    oid = "malware--6b616fc1-1505-48e3-8b2c-0d19337bff38"
    obj: dict[str, object] = {
        "type": "malware",
        "spec_version": "2.1",
        "id": oid,
        "created": "2026-01-01T00:00:00Z",
        "modified": "2026-01-01T00:00:00.000Z",
        "name": "x",
        "is_family": False,
    }
    errors = validation_errors(obj)
    assert errors and all(oid not in e for e in errors), errors
    assert any(e.startswith("created:") for e in errors), errors
    valid = {**obj, "created": "2026-01-01T00:00:00.000Z"}
    assert validation_errors(valid) == []
