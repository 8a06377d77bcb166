"""Rule files: valid ones parse, invalid ones fail naming the line and the field."""

from __future__ import annotations

from pathlib import Path

import pytest

from vigil.core.errors import InputError
from vigil.match.rules import DEFAULT_MIN_CONFIDENCE, load_rules, parse_rules

GOOD = """\
version: 1
rules:
  - name: images
    when:
      signal_types: [image_pdq]
      campaigns: ["Cloned outlets"]
    actions:
      queue: true
  - name: hook
    when: {tlp: [GREEN, AMBER], min_confidence: 70, allow_red: true}
    actions:
      webhook: {url: "http://127.0.0.1:1/hook", timeout: 2, retries: 1}
"""


def test_a_valid_file_parses_with_safe_defaults(tmp_path: Path) -> None:
    (tmp_path / "rules.yaml").write_text(GOOD)
    rules = load_rules(tmp_path / "rules.yaml")
    images, hook = rules.rules
    assert images.when.min_confidence == DEFAULT_MIN_CONFIDENCE == 30
    assert images.when.allow_red is False and images.actions.queue
    assert hook.actions.webhook is not None and hook.actions.webhook.retries == 1
    row = {"signal_type": "image_pdq", "campaign_name": "cloned OUTLETS", "tlp": "GREEN", "confidence": 30}
    assert images.when.selects(row)
    assert not images.when.selects({**row, "confidence": 29})
    assert not images.when.selects({**row, "tlp": "RED"})
    assert not images.when.selects({**row, "campaign_name": None})
    assert not images.when.selects({**row, "confidence": None})


@pytest.mark.parametrize(
    ("text", "line", "field", "says"),
    [
        (
            "rules:\n  - name: a\n    actions: {queue: true}\n    whenn: {}\n",
            4,
            "rules[0].whenn",
            "Extra inputs",
        ),
        (
            "rules:\n  - name: a\n    when:\n      min_confidence: 150\n    actions: {queue: true}\n",
            4,
            "rules[0].when.min_confidence",
            "less than or equal to 100",
        ),
        (
            "rules:\n  - name: a\n    when:\n      signal_types: [url, narrative]\n"
            "    actions: {queue: true}\n",
            4,
            "rules[0].when.signal_types",
            "unmatchable signal type 'narrative'",
        ),
        (
            "rules:\n  - name: a\n    when: {tlp: [PURPLE]}\n    actions: {queue: true}\n",
            3,
            "rules[0].when.tlp[0]",
            "'CLEAR'",
        ),
        ("rules:\n  - name: a\n    actions: {}\n", 3, "rules[0].actions", "at least one action"),
        ("rules:\n  - name: a\n", 2, "rules[0].actions", "Field required"),
        (
            "rules:\n  - name: a\n    actions:\n      webhook: {url: ftp://x}\n",
            4,
            "rules[0].actions.webhook.url",
            "http://",
        ),
        (
            "rules:\n  - name: a\n    actions: {queue: true}\n  - name: a\n    actions: {queue: true}\n",
            1,
            "rules",
            "used twice",
        ),
    ],
)
def test_invalid_files_name_line_and_field(text: str, line: int, field: str, says: str) -> None:
    with pytest.raises(InputError) as caught:
        parse_rules(text, "rules.yaml")
    message = caught.value.message
    assert f"rules.yaml, line {line}, field {field}:" in message
    assert says in message


def test_broken_yaml_and_wrong_shapes_are_named() -> None:
    with pytest.raises(InputError, match=r"rules\.yaml, line 4: not valid YAML"):
        parse_rules("rules:\n  - name: a\n    actions: {queue: true\n", "rules.yaml")
    with pytest.raises(InputError, match="a mapping with a 'rules' list"):
        parse_rules("- just a list\n", "rules.yaml")
    with pytest.raises(InputError, match="cannot read rule file"):
        load_rules(Path("/nonexistent/rules.yaml"))
