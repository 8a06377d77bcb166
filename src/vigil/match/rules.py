"""The actioner's rule file (YAML): what to do when a post matches a partner's signal.

::

    version: 1
    rules:
      - name: images-to-review
        when:
          signal_types: [image_pdq, image_md5]
          campaigns: ["Cloned outlets"]     # names or campaign ids; absent: any (or none)
          min_confidence: 60                # default 30
        actions:
          queue: true                        # the review queue table (vigil match queue)
      - name: urls-to-trust-and-safety
        when: {signal_types: [url, domain], tlp: [CLEAR, GREEN, AMBER]}
        actions:
          webhook: {url: "https://tns.example/hooks/vigil", timeout: 5, retries: 3}

A rule selects a match row when every condition under ``when`` holds. Two safety defaults hold
whatever the other conditions say, and a rule must lift them explicitly:

* **RED is never acted on** unless ``allow_red: true`` (TLP:RED material is for its named
  recipients only; an automatic action can reveal it).
* **Low confidence is never acted on**: ``min_confidence`` defaults to 30, the lower bound of
  "Medium" in the STIX 2.1 confidence scale (None 0, Low 1-29, Med 30-69, High 70-100); a
  contribution without a confidence counts as 0. Set ``min_confidence: 0`` to act on everything.

An invalid file is an ``InputError`` naming the file, the line and the field.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from vigil.core.errors import InputError
from vigil.exchange.records import TLP
from vigil.match.state import matchable_types

DEFAULT_MIN_CONFIDENCE = 30


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class When(_Strict):
    signal_types: list[str] | None = None
    campaigns: list[str] | None = None
    orgs: list[str] | None = None
    tlp: list[TLP] | None = None
    min_confidence: int = Field(default=DEFAULT_MIN_CONFIDENCE, ge=0, le=100)
    max_distance: float | None = Field(default=None, ge=0)
    # The decay score (vigil.match.decay) at match time; a row without a score counts as 0.
    min_score: float | None = Field(default=None, ge=0, le=100)
    allow_red: bool = False

    @field_validator("signal_types")
    @classmethod
    def _known_types(cls, value: list[str] | None) -> list[str] | None:
        if value is not None:
            known = matchable_types()
            for name in value:
                if name not in known:
                    raise ValueError(
                        f"unknown or unmatchable signal type {name!r}; use one of {', '.join(known)}"
                    )
        return value

    def selects(self, row: Mapping[str, Any]) -> bool:
        """Whether a match row (a ``matches.parquet`` row as a dict) meets every condition."""
        return self.safe(row) and self.conditions(row)

    def safe(self, row: Mapping[str, Any]) -> bool:
        """The safety defaults: not RED unless allowed, confidence at least ``min_confidence``."""
        if row.get("tlp") == TLP.RED.value and not self.allow_red:
            return False
        return (row.get("confidence") or 0) >= self.min_confidence

    def conditions(self, row: Mapping[str, Any]) -> bool:
        """The rule's own conditions (everything but the safety defaults)."""
        tlp = row.get("tlp")
        if self.tlp is not None and tlp not in {t.value for t in self.tlp}:
            return False
        if self.signal_types is not None and row.get("signal_type") not in self.signal_types:
            return False
        if self.campaigns is not None:
            wanted = {c.casefold() for c in self.campaigns}
            names = {str(v).casefold() for v in (row.get("campaign_id"), row.get("campaign_name")) if v}
            if not wanted & names:
                return False
        if self.orgs is not None and row.get("org_id") not in self.orgs:
            return False
        if self.min_score is not None and float(row.get("score") or 0.0) < self.min_score:
            return False
        return self.max_distance is None or float(row.get("distance", 0.0)) <= self.max_distance


class Webhook(_Strict):
    url: str
    timeout: float = Field(default=10.0, gt=0, le=300)  # seconds per attempt
    retries: int = Field(default=3, ge=0, le=10)  # further attempts after the first
    batch_size: int = Field(default=100, ge=1, le=10_000)  # matches per POST
    headers: dict[str, str] = Field(default_factory=dict)
    # Header name -> environment variable holding its value, so tokens stay out of the rule file.
    headers_from_env: dict[str, str] = Field(default_factory=dict)

    def resolved_headers(self) -> dict[str, str]:
        """``headers`` plus those read from the environment; ConfigError naming a missing variable."""
        import os

        from vigil.core.errors import ConfigError

        out = dict(self.headers)
        for header, variable in self.headers_from_env.items():
            value = os.environ.get(variable)
            if value is None:
                raise ConfigError(
                    f"webhook {self.url}: environment variable {variable} (for {header}) is not set"
                )
            out[header] = value
        return out

    @field_validator("url")
    @classmethod
    def _http(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError(f"webhook url must start with http:// or https://, got {value!r}")
        return value


class Actions(_Strict):
    queue: bool = False
    webhook: Webhook | None = None

    @model_validator(mode="after")
    def _something(self) -> Actions:
        if not self.queue and self.webhook is None:
            raise ValueError("a rule needs at least one action: queue: true and/or webhook")
        return self


class Rule(_Strict):
    name: str = Field(min_length=1, max_length=100)
    when: When = Field(default_factory=When)
    actions: Actions


class RuleSet(_Strict):
    version: Literal[1] = 1
    rules: list[Rule] = Field(min_length=1)

    @field_validator("rules")
    @classmethod
    def _unique(cls, rules: list[Rule]) -> list[Rule]:
        names = [r.name for r in rules]
        for name in names:
            if names.count(name) > 1:
                raise ValueError(f"rule name {name!r} is used twice")
        return rules


def parse_rules(text: str, source: str = "<rules>") -> RuleSet:
    """Parse and validate a rule file's text; InputError naming line and field on any problem."""
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        problem = getattr(exc, "problem", None) or str(exc)
        where = f"{source}, line {line}" if line else source
        raise InputError(f"{where}: not valid YAML: {problem}", file=source, line=line) from exc
    if not isinstance(data, dict):
        raise InputError(f"{source}: a rule file is a mapping with a 'rules' list", file=source, line=1)
    try:
        return RuleSet.model_validate(data)
    except ValidationError as exc:
        error = exc.errors()[0]
        loc = [p for p in error["loc"] if not (isinstance(p, str) and p.startswith("function-"))]
        line = _line_of(node, loc)
        field = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in loc).lstrip(".") or "(file)"
        message = error["msg"].removeprefix("Value error, ")
        raise InputError(
            f"{source}, line {line}, field {field}: {message}", file=source, line=line, field=field
        ) from exc


def load_rules(path: Path) -> RuleSet:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise InputError(f"cannot read rule file {path}: {exc.strerror}", file=str(path)) from exc
    return parse_rules(text, str(path))


def _line_of(node: yaml.Node | None, loc: list[Any]) -> int:
    """The 1-based line of the deepest YAML node on ``loc`` that exists (the key when the value is
    missing, so 'field required' points at the mapping that lacks it)."""
    line = node.start_mark.line + 1 if node is not None else 1
    for part in loc:
        if isinstance(node, yaml.MappingNode) and isinstance(part, str):
            found = next(((k, v) for k, v in node.value if getattr(k, "value", None) == part), None)
            if found is None:
                return line
            key, node = found
            line = key.start_mark.line + 1
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
            node = node.value[part]
            line = node.start_mark.line + 1
        else:
            return line
    return line
