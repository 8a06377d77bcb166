"""``VigilSignalExchangeAPI``: a Vigil exchange as a python-threatexchange SignalExchangeAPI.

* fetch: pages of ``GET /api/v1/signals`` (what the key's organisation may see, TLP enforced by
  Vigil), resumable from a checkpoint holding the latest change time seen; revoked signals arrive as
  deletions. Vigil kinds map to threatexchange signal types (``KIND_TO_TX``).
* each fetched signal's metadata carries its Vigil id, tags and the coalition's view as opinions:
  every contributing organisation counts as a positive, ``confirmed`` opinions as positive,
  ``disputed`` and ``false_positive`` as negative (threatexchange then shows DISPUTED).
* report_opinion: POSITIVE_CLASS -> opinion ``confirmed`` and a sighting; NEGATIVE_CLASS -> opinion
  ``false_positive``; INVESTIGATION_SEED -> a sighting only. The labels go in the opinion comment.

Credentials: a Vigil API key from ``VIGIL_API_KEY`` or the file ``~/.vigil_api_key``, never the
collaboration config (which python-threatexchange stores in plain files).
"""

import typing as t
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from threatexchange.exchanges import fetch_state as state
from threatexchange.exchanges.auth import CredentialHelper, SignalExchangeWithAuth
from threatexchange.exchanges.collab_config import CollaborationConfigWithDefaults
from threatexchange.exchanges.signal_exchange_api import SignalExchangeAPIWithSimpleUpdates
from threatexchange.signal_type.signal_base import SignalType

from vigil_threatexchange.client import VigilAPIError, VigilClient

# Vigil signal kind -> threatexchange signal type names. A URL goes out twice: as threatexchange's own
# ``url`` (exact strings, what other tools index) and as ``vigil_url`` (Vigil's canonical form).
KIND_TO_TX: Mapping[str, tuple[str, ...]] = {
    "url": ("url", "vigil_url"),
    "image_pdq": ("pdq",),
    "text_exact": ("vigil_text_exact",),
    "domain": ("vigil_domain",),
}
TX_TO_KIND: Mapping[str, str] = {tx: kind for kind, names in KIND_TO_TX.items() for tx in names}
_POSITIVE = state.SignalOpinionCategory.POSITIVE_CLASS
_NEGATIVE = state.SignalOpinionCategory.NEGATIVE_CLASS
_SEED = state.SignalOpinionCategory.INVESTIGATION_SEED


@dataclass
class _RequiredFields:
    server: str = field(metadata={"help": "base URL of the Vigil server, e.g. https://vigil.example"})


@dataclass
class VigilCollabConfig(CollaborationConfigWithDefaults, _RequiredFields):
    """A Vigil exchange to fetch from (the key decides which organisation's view)."""


class VigilCredentials(CredentialHelper):
    ENV_VARIABLE = "VIGIL_API_KEY"
    FILE_NAME = "~/.vigil_api_key"

    def __init__(self, key: str) -> None:
        self.key = key

    @classmethod
    def _from_str(cls, s: str) -> "VigilCredentials | None":
        return cls(s.strip()) if s.strip() else None

    def _are_valid(self) -> bool:
        return bool(self.key) and not any(c.isspace() for c in self.key)


@dataclass
class VigilCheckpoint(state.FetchCheckpointBase):
    """Latest change time seen (ISO 8601); the next fetch asks for what changed since."""

    modified_at: str = ""
    fetched: int = 0

    def get_progress_timestamp(self) -> int | None:
        return int(datetime.fromisoformat(self.modified_at).timestamp()) if self.modified_at else None


@dataclass
class VigilSignalMetadata(state.FetchedSignalMetadata):
    signal_id: str
    kind: str
    contributors: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    opinions: tuple[tuple[str, str], ...] = ()  # (org id, confirmed | disputed | false_positive)
    my_org: str = ""

    def get_as_opinions(self) -> Sequence[state.SignalOpinion]:
        out = [
            state.SignalOpinion(org == self.my_org, _POSITIVE, set(self.tags)) for org in self.contributors
        ]
        for org, value in self.opinions:
            category = _POSITIVE if value == "confirmed" else _NEGATIVE
            out.append(state.SignalOpinion(org == self.my_org, category, set()))
        return out or [state.SignalOpinion(False, _SEED, set())]


_Delta = state.FetchDelta[tuple[str, str], VigilSignalMetadata, VigilCheckpoint]


def _parse(value: str) -> datetime:
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def signal_updates(
    item: Mapping[str, t.Any], my_org: str, wanted: t.Collection[str]
) -> dict[tuple[str, str], VigilSignalMetadata | None]:
    """One fetched Vigil signal as threatexchange updates, one per wanted signal type it maps to
    (value None: revoked, i.e. a deletion)."""
    keys = [(tx, str(item["value"])) for tx in KIND_TO_TX.get(item["kind"], ()) if tx in wanted]
    if not keys or item.get("revoked"):
        return dict.fromkeys(keys)
    live = [c for c in item.get("contributions", []) if not c.get("revoked")]
    meta = VigilSignalMetadata(
        signal_id=item["id"],
        kind=item["kind"],
        contributors=tuple(sorted({c["org_id"] for c in live})),
        tags=tuple(sorted({tag for c in live for tag in c.get("tags", [])})),
        opinions=tuple(sorted((o["org_id"], o["value"]) for o in item.get("opinions", []))),
        my_org=my_org,
    )
    return dict.fromkeys(keys, meta)


class VigilSignalExchangeAPI(
    SignalExchangeWithAuth[VigilCollabConfig, VigilCredentials],
    SignalExchangeAPIWithSimpleUpdates[VigilCollabConfig, VigilCheckpoint, VigilSignalMetadata],
):
    """Fetch signals from a Vigil exchange and report opinions and sightings back to it."""

    def __init__(self, collab: VigilCollabConfig, client: VigilClient) -> None:
        self.collab = collab
        self.client = client

    def close(self) -> None:
        """Close the HTTP connections (the CLI's process just ends; library users call this)."""
        self.client.close()

    @classmethod
    def get_name(cls) -> str:
        return "vigil_exchange"

    @staticmethod
    def get_config_cls() -> type[VigilCollabConfig]:
        return VigilCollabConfig

    @staticmethod
    def get_checkpoint_cls() -> type[VigilCheckpoint]:
        return VigilCheckpoint

    @staticmethod
    def get_record_cls() -> type[VigilSignalMetadata]:
        return VigilSignalMetadata

    @staticmethod
    def get_credential_cls() -> type[VigilCredentials]:
        return VigilCredentials

    @classmethod
    def for_collab(
        cls, collab: VigilCollabConfig, credentials: VigilCredentials | None = None
    ) -> "VigilSignalExchangeAPI":
        creds = credentials or VigilCredentials.get(cls)
        return cls(collab, VigilClient(collab.server, creds.key))

    def fetch_iter(
        self,
        supported_signal_types: Sequence[type[SignalType]],
        checkpoint: VigilCheckpoint | None,
    ) -> Iterator[_Delta]:
        names = {s.get_name() for s in supported_signal_types}
        kinds = sorted(k for k, txs in KIND_TO_TX.items() if names.intersection(txs))
        start = checkpoint or VigilCheckpoint()
        # Re-read the last instant (1 µs back): updates are idempotent, a skipped change is not.
        after = _parse(start.modified_at) - timedelta(microseconds=1) if start.modified_at else None
        my_org = str(self.client.me()["org_id"])
        latest = start.modified_at
        fetched = start.fetched
        pages = list(self.client.signal_pages(modified_after=after, kinds=kinds)) if kinds else [[]]
        for i, items in enumerate(pages):
            updates: dict[tuple[str, str], VigilSignalMetadata | None] = {}
            for item in items:
                updates.update(signal_updates(item, my_org, names))
                if item.get("modified_at") and (not latest or _parse(item["modified_at"]) > _parse(latest)):
                    latest = item["modified_at"]
            fetched += len(updates)
            # Pages come in Vigil's internal change order, not the view's: only the last page may
            # advance the checkpoint, so an abandoned fetch restarts rather than skipping.
            last = i == len(pages) - 1
            yield _Delta(updates, VigilCheckpoint(latest if last else start.modified_at, fetched))

    def report_opinion(self, s_type: type[SignalType], signal: str, opinion: state.SignalOpinion) -> None:
        signal_id = self._signal_id(s_type, signal)
        labels = ", ".join(sorted(opinion.tags))
        comment = "reported with python-threatexchange" + (f"; labels: {labels}" if labels else "")
        if opinion.category == _POSITIVE:
            self.client.set_opinion(signal_id, "confirmed", comment)
            self.client.add_sighting(signal_id, at=datetime.now(UTC))
        elif opinion.category == _NEGATIVE:
            self.client.set_opinion(signal_id, "false_positive", comment)
        else:
            self.client.add_sighting(signal_id, at=datetime.now(UTC))

    def report_seen(self, s_type: type[SignalType], signal: str, count: int = 1) -> None:
        """Record that your organisation saw this signal on its platform (a Vigil sighting)."""
        self.client.add_sighting(self._signal_id(s_type, signal), at=datetime.now(UTC), count=count)

    def report_true_positive(self, s_type: type[SignalType], signal: str) -> None:
        self.report_opinion(s_type, signal, state.SignalOpinion(True, _POSITIVE, set()))

    def report_false_positive(self, s_type: type[SignalType], signal: str) -> None:
        self.report_opinion(s_type, signal, state.SignalOpinion(True, _NEGATIVE, set()))

    def _signal_id(self, s_type: type[SignalType], signal: str) -> str:
        kind = TX_TO_KIND.get(s_type.get_name())
        if kind is None:
            raise VigilAPIError(
                f"Vigil has no signal kind for threatexchange type {s_type.get_name()!r}; "
                f"it shares {', '.join(sorted(TX_TO_KIND))}"
            )
        return str(self.client.lookup(kind, signal)["id"])
