"""Election scenario playbooks: YAML files validated with pydantic.

The library is the files shipped in ``vigil/cases/playbooks/`` plus any directories configured
(``VIGIL_PLAYBOOK_DIRS`` or ``PlaybookLibrary.load(dirs)``), so a coalition can edit copies or add
its own; a playbook in a configured directory replaces a shipped one with the same ``id``.

A bad file is an error naming the file, the line and the field (``DataError``), e.g.
``mine.yaml, row 12, column 'checklist.2.owner.kind': Input should be 'platform', ...``.
See docs/cases.md for the format, and docs/meetings.md for the exercise schedule
(``exercise: {every: 90d, before_elections: 30d}``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from vigil.cases.disarm import normalize_techniques
from vigil.core.errors import DataError, InputError, NotFound, VigilError
from vigil.core.time import parse_duration
from vigil.exchange.records import OrgKind, Role

_ID = re.compile(r"[a-z0-9][a-z0-9-]{1,63}")


class Owner(BaseModel):
    """Who carries out a step: an organisation kind and, optionally, a role in it."""

    model_config = ConfigDict(extra="forbid")
    kind: OrgKind
    role: Role | None = None

    def label(self) -> str:
        return f"{self.kind.value}/{self.role.value}" if self.role else self.kind.value


class Step(BaseModel):
    model_config = ConfigDict(extra="forbid")
    text: str = Field(min_length=1, max_length=2000)
    owner: Owner
    within: str | None = Field(default=None, description="Target time from activation, e.g. 2h.")


class Contact(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=200)
    kind: OrgKind
    role: str = Field(min_length=1, max_length=200)
    channel: str = Field(min_length=1, max_length=500)


def _positive_duration(value: str) -> str:
    try:
        span = parse_duration(str(value).strip())
    except InputError as exc:
        raise ValueError(exc.message) from None
    if span <= timedelta(0):
        raise ValueError(f"must be longer than zero, got {value!r}")
    return str(value).strip()


class ExerciseSchedule(BaseModel):
    """When a playbook should be practised: at least ``every`` (e.g. ``90d``) and, optionally,
    within ``before_elections`` (e.g. ``30d``) before each election day or early-voting start of
    the election calendar. Durations as ``vigil.core.time.parse_duration`` reads them (h, d, w)."""

    model_config = ConfigDict(extra="forbid")
    every: str = Field(description="Longest time between two exercises, e.g. 90d or 12w.")
    before_elections: str | None = Field(
        default=None, description="Exercise again within this lead before an election, e.g. 30d."
    )

    @field_validator("every", "before_elections")
    @classmethod
    def _duration(cls, value: str | None) -> str | None:
        return None if value is None else _positive_duration(value)

    @property
    def interval(self) -> timedelta:
        return parse_duration(self.every)

    @property
    def election_lead(self) -> timedelta | None:
        return parse_duration(self.before_elections) if self.before_elections else None


class Playbook(BaseModel):
    """One scenario: when it applies (triggers), what to do (checklist) and who to call (contacts)."""

    model_config = ConfigDict(extra="forbid")
    id: str
    name: str = Field(min_length=1, max_length=200)
    scenario: str = Field(min_length=1)
    triggers: list[str] = Field(min_length=1)
    techniques: list[str] = Field(default_factory=list)
    checklist: list[Step] = Field(min_length=1)
    contacts: list[Contact] = Field(default_factory=list)
    exercise: ExerciseSchedule | None = None  # no schedule: never listed as due for an exercise

    @field_validator("id")
    @classmethod
    def _id(cls, value: str) -> str:
        if not _ID.fullmatch(value):
            raise ValueError("id must be 2-64 lower-case letters, digits or '-'")
        return value

    @field_validator("techniques")
    @classmethod
    def _techniques(cls, value: list[str]) -> list[str]:
        try:
            return list(normalize_techniques(value))
        except InputError as exc:
            raise ValueError(exc.message) from None


@dataclass(frozen=True)
class LoadedPlaybook:
    playbook: Playbook
    source: str  # "package" or the file path


def _line_of(node: yaml.Node | None, loc: Sequence[int | str]) -> int | None:
    """The 1-based line of the YAML node at pydantic location ``loc`` (nearest existing parent)."""
    line = node.start_mark.line + 1 if node is not None else None
    for part in loc:
        if isinstance(node, yaml.MappingNode):
            found = next(
                (v for k, v in node.value if isinstance(k, yaml.ScalarNode) and k.value == part), None
            )
            if found is None:
                key = next((k for k, _ in node.value), None)
                return key.start_mark.line + 1 if key is not None and line is None else line
            node = found
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
            node = node.value[part]
        else:
            break
        line = node.start_mark.line + 1
    return line


def parse_playbook(text: str, source: str) -> Playbook:
    """Validate one playbook document; DataError names ``source``, the line and the field."""
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        raise DataError(
            f"invalid YAML: {getattr(exc, 'problem', None) or exc}",
            file=source,
            row=mark.line + 1 if mark is not None else None,
        ) from None
    if not isinstance(data, dict):
        raise DataError("a playbook must be a YAML mapping", file=source, row=1)
    try:
        return Playbook.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = tuple(first["loc"])
        field = ".".join(str(p) for p in loc) or "playbook"
        more = f" (and {exc.error_count() - 1} more problems)" if exc.error_count() > 1 else ""
        raise DataError(f"{first['msg']}{more}", file=source, row=_line_of(node, loc), column=field) from None


def _shipped() -> Iterable[tuple[str, str]]:
    folder = resources.files("vigil.cases").joinpath("playbooks")
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if entry.name.endswith((".yaml", ".yml")):
            yield f"vigil/cases/playbooks/{entry.name}", entry.read_text("utf-8")


@cache
def _shipped_playbooks() -> tuple[Playbook, ...]:
    """The package's playbooks, parsed once per process: they cannot change while it runs, and
    parsing them (~50 ms) would otherwise be paid by every dashboard page that lists them."""
    return tuple(parse_playbook(text, name) for name, text in _shipped())


class PlaybookLibrary:
    """Playbooks by id. ``PlaybookLibrary.load(dirs)`` reads the package's then each directory's."""

    def __init__(self, playbooks: dict[str, LoadedPlaybook]) -> None:
        self._playbooks = playbooks

    @classmethod
    def load(cls, dirs: Iterable[str | Path] = (), *, include_package: bool = True) -> PlaybookLibrary:
        found: dict[str, LoadedPlaybook] = {}
        if include_package:
            for book in _shipped_playbooks():
                found[book.id] = LoadedPlaybook(book, "package")
        for directory in dirs:
            path = Path(directory)
            if not path.is_dir():
                raise InputError(f"playbook directory {str(path)!r} does not exist", field="playbook_dirs")
            seen: dict[str, str] = {}
            for file in sorted([*path.glob("*.yaml"), *path.glob("*.yml")]):
                book = parse_playbook(file.read_text("utf-8"), str(file))
                if book.id in seen:
                    raise DataError(
                        f"playbook id {book.id!r} also defined in {seen[book.id]}",
                        file=str(file),
                        column="id",
                    )
                seen[book.id] = str(file)
                found[book.id] = LoadedPlaybook(book, str(file))
        return cls(found)

    def ids(self) -> list[str]:
        return sorted(self._playbooks)

    def all(self) -> list[LoadedPlaybook]:
        return [self._playbooks[i] for i in self.ids()]

    def get(self, playbook_id: str) -> Playbook:
        try:
            return self._playbooks[playbook_id].playbook
        except KeyError:
            raise NotFound(f"no playbook {playbook_id!r}; known: {', '.join(self.ids())}") from None


def validate_files(paths: Iterable[str | Path]) -> list[tuple[str, Playbook | VigilError]]:
    """Each file (or every YAML file of a directory) with its playbook or its error."""
    results: list[tuple[str, Playbook | VigilError]] = []
    for given in paths:
        path = Path(given)
        files = sorted([*path.glob("*.yaml"), *path.glob("*.yml")]) if path.is_dir() else [path]
        for file in files:
            try:
                if not file.is_file():
                    raise DataError("file not found", file=str(file))
                results.append((str(file), parse_playbook(file.read_text("utf-8"), str(file))))
            except VigilError as exc:
                results.append((str(file), exc))
    return results


def playbook_dict(book: Playbook) -> dict[str, Any]:
    return book.model_dump(mode="json")
