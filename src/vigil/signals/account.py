"""Account signal: one account on one platform, by id or by handle.

Values are ``platform:account_id`` or ``platform:@handle``. Ids are kept as written (they are opaque
and may be case-sensitive); handles are lower-cased because every major platform treats them
case-insensitively. An id and a handle of the same account are two signals: nothing offline can
tell that they name the same account.
"""

from __future__ import annotations

import re

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from vigil.core.errors import InputError
from vigil.signals.base import Row, SignalType, dedupe
from vigil.signals.columns import column, matches, nonempty, to_lists, with_rows

_PLATFORM = re.compile(r"[a-z0-9][a-z0-9_.-]{0,63}")
_SPACE = re.compile(r"\s")
EXPECTED = "'platform:account_id' or 'platform:@handle'"
# Columns whose values ``normalize`` provably leaves as they are (nothing to strip or lower-case, no
# ':' or '@' to reinterpret): the column-wise path writes their values directly; any other row goes
# through ``derive_from_post``.
_PLAIN_PLATFORM = r"^[a-z0-9][a-z0-9_.-]{0,63}$"
_PLAIN_ID = r"^[A-Za-z0-9_.-]+$"
_PLAIN_HANDLE = r"^@*[A-Za-z0-9_.-]+$"


def account_value(platform: str, account_id: str | None = None, handle: str | None = None) -> str:
    """The normalized value for an account id (or, when ``handle`` is given, for its handle)."""
    if handle is not None:
        return ACCOUNT.normalize(f"{platform}:@{handle.lstrip('@')}")
    if account_id is None:
        raise InputError("an account signal needs an account id or a handle")
    return ACCOUNT.normalize(f"{platform}:{account_id}")


class AccountSignal(SignalType):
    name = "account"
    description = "An account on a platform, by id ('twitter:12345') or handle ('twitter:@handle')."
    examples = ("twitter:12345", "twitter:@vote_bot_77", "facebook:100004567")

    def normalize(self, value: str) -> str:
        platform, sep, account = value.strip().partition(":")
        platform = platform.strip().lower()
        account = account.strip()
        if not sep:
            raise InputError(f"account value must be {EXPECTED}, got no ':' in {value[:100]!r}")
        if not _PLATFORM.fullmatch(platform):
            raise InputError(
                f"account value must start with a platform name (letters, digits, '_.-'), got {platform!r}"
            )
        handle = account.startswith("@")
        name = account[1:] if handle else account
        if not name or _SPACE.search(name) or name.startswith("@"):
            raise InputError(f"account value must be {EXPECTED} without spaces, got {value[:100]!r}")
        return f"{platform}:@{name.lower()}" if handle else f"{platform}:{name}"

    def _derive(self, platform: str | None, account_id: str | None, handle: str | None) -> list[str]:
        if not platform:
            return []
        values = []
        if account_id:
            values.append(account_value(platform, account_id))
        if handle and handle.strip().lstrip("@"):
            values.append(account_value(platform, handle=handle.strip()))
        return dedupe(values)

    def derive_from_post(self, post: Row) -> list[str]:
        """The author, by id and by handle."""
        return self._derive(post.get("platform"), post.get("account_id"), post.get("account_handle"))

    def derive_columns(self, posts: pa.Table) -> pa.Array:
        """``derive_from_post`` of every post: ``platform:id`` then ``platform:@handle`` (lower-cased,
        leading '@'s dropped) from Arrow kernels where the columns are plain; other rows row by row."""
        platform = column(posts, "platform", pa.string())
        ids = column(posts, "account_id", pa.string())
        handles = column(posts, "account_handle", pa.string())
        has_platform, has_id, has_handle = nonempty(platform), nonempty(ids), nonempty(handles)
        slow = has_platform & (
            ~matches(platform, _PLAIN_PLATFORM)
            | (has_id & ~matches(ids, _PLAIN_ID))
            | (has_handle & ~matches(handles, _PLAIN_HANDLE))
        )
        with_id = has_platform & has_id & ~slow
        with_handle = has_platform & has_handle & ~slow
        id_values = pc.binary_join_element_wise(platform, ids, ":")
        handle_values = pc.binary_join_element_wise(
            platform, pc.ascii_lower(pc.utf8_ltrim(handles, "@")), ":@"
        )
        # Items in row order, the id before the handle (never equal: only the handle has '@').
        rows = np.concatenate([np.flatnonzero(with_id), np.flatnonzero(with_handle)])
        values = pa.concat_arrays(
            [id_values.filter(pa.array(with_id)), handle_values.filter(pa.array(with_handle))]
        )
        order = np.argsort(rows, kind="stable")
        lists = to_lists(posts.num_rows, rows[order], values.take(pa.array(order)))
        return with_rows(posts, lists, slow, self.derive_from_post)

    def derive_from_account(self, account: Row) -> list[str]:
        return self._derive(account.get("platform"), account.get("account_id"), account.get("handle"))


ACCOUNT = AccountSignal()
SIGNAL_TYPE = ACCOUNT
