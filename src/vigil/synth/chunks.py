"""Making the posts of one chunk (a run of whole hours) in time order.

Organic originals, replies and reshares, campaign members' filler and the campaigns' coordinated
posts of the chunk's hours are drawn, sorted by time, given keys and platform post ids, and filled
in vectorized. What must carry over between chunks is kept here: the recent viral posts (targets of
reshares and replies), the keys given to campaign posts (targets of campaign reshares), and which
accounts posted.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from vigil.schema.tables import POSTS
from vigil.synth.organic import (
    POOL_HOURS,
    REPLY_P,
    RESHARE_P,
    compose_posts,
    pick_targets,
    reshare_columns,
    viral_rows,
)
from vigil.synth.plan import CHUNK, HOUR_US, Plan, rng_for
from vigil.synth.postids import post_ids

_OUT_FIELDS = [f for f in POSTS.schema if f.name != "extra"]
_POOL_SCHEMA = pa.schema(
    [*_OUT_FIELDS, pa.field("_t", pa.int64()), pa.field("_w", pa.float64()), pa.field("_p", pa.int8())]
)


def _piece(columns: dict[str, pa.Array], post_id: pa.Array, rows: np.ndarray) -> pa.Table:
    data = dict(columns)
    data["post_id"] = post_id
    arrays = [data[f.name] for f in _OUT_FIELDS]
    return pa.Table.from_arrays(
        [*arrays, pa.array(rows, type=pa.int64())],
        schema=pa.schema([*_OUT_FIELDS, pa.field("_row", pa.int64())]),
    )


def _slice(sorted_t: np.ndarray, t0: int, t1: int) -> slice:
    return slice(
        int(np.searchsorted(sorted_t, t0, side="left")), int(np.searchsorted(sorted_t, t1, side="left"))
    )


class ChunkWriter:
    """Makes the posts of each chunk in time order and keeps what must carry over between chunks."""

    def __init__(self, plan: Plan) -> None:
        self.plan = plan
        self.pool = _POOL_SCHEMA.empty_table()
        self.campaign_key = np.full(len(plan.campaign), -1, dtype=np.int64)
        self.posted = np.zeros(len(plan.world.accounts), dtype=bool)
        self.next_key = 0
        self.by_platform = np.zeros(len(plan.config.platforms), dtype=np.int64)

    def chunk(self, k: int) -> pa.Table:
        plan, w = self.plan, self.plan.world
        acc = w.accounts
        rng = rng_for(plan.config.seed, CHUNK, k)
        h0, h1 = plan.chunks[k]
        t0 = plan.start_us + h0 * HOUR_US
        t1 = plan.start_us + h1 * HOUR_US if k < len(plan.chunks) - 1 else plan.end_us + 1

        counts = plan.regular[:, h0:h1]
        g_idx, h_idx = np.nonzero(counts)
        reps = counts[g_idx, h_idx]
        reg_g = np.repeat(g_idx, reps)
        reg_t = (
            plan.start_us
            + np.repeat(h0 + h_idx, reps) * HOUR_US
            + rng.integers(0, HOUR_US, size=int(reps.sum()))
        )
        es = _slice(plan.event_t, t0, t1)
        fs = _slice(plan.filler_t, t0, t1)
        cs = _slice(plan.campaign.t_us, t0, t1)
        ev_g = plan.event_group[es]
        groups = np.concatenate([reg_g, ev_g])
        sampled = np.empty(len(groups), dtype=np.int64)
        for g in np.unique(groups):
            sel = groups == g
            sampled[sel] = plan.sampler.sample(rng, int(g), int(sel.sum()))
        n_reg, n_ev = len(reg_g), len(ev_g)
        n_fill, n_camp = fs.stop - fs.start, cs.stop - cs.start
        t = np.concatenate([reg_t, plan.event_t[es], plan.filler_t[fs], plan.campaign.t_us[cs]])
        acct = np.concatenate([sampled, plan.filler_acct[fs], plan.campaign.acct[cs]])
        event = np.concatenate([np.full(n_reg, -1), plan.event_id[es], np.full(n_fill + n_camp, -1)])
        crow = np.concatenate([np.full(n_reg + n_ev + n_fill, -1), np.arange(cs.start, cs.stop)])
        platform = acc.platform[acct]
        names = plan.config.platforms
        u = rng.random(len(t))
        reshare_p = np.array([RESHARE_P[p] for p in names])[platform]
        reply_p = np.array([REPLY_P[p] for p in names])[platform]
        reshare_p = np.where(event >= 0, reshare_p / 2, reshare_p)
        kind = np.where(u < reshare_p, 1, np.where(u < reshare_p + reply_p, 2, 0))
        kind[n_reg + n_ev :] = 0  # filler posts are originals
        kind[crow >= 0] = 3

        order = np.lexsort((np.arange(len(t)), t))
        t, acct, event, crow, kind, platform = (
            t[order],
            acct[order],
            event[order],
            crow[order],
            kind[order],
            platform[order],
        )
        n = len(t)
        keys = self.next_key + np.arange(n, dtype=np.int64)
        self.next_key += n
        pids = post_ids(names, platform, acc.account_id.take(pa.array(acct)), keys)
        camp_rows = np.flatnonzero(kind == 3)
        self.campaign_key[crow[camp_rows]] = keys[camp_rows]
        self.posted[acct] = True
        self.by_platform += np.bincount(platform, minlength=len(names))

        pieces: list[pa.Table] = []
        originals = np.flatnonzero(kind == 0)
        cols = compose_posts(w, rng, acct[originals], t[originals], event[originals])
        pieces.append(_piece(cols, pids.take(pa.array(originals)), originals))
        viral, weight = viral_rows(rng, acc, acct[originals], (min(t1, plan.end_us) - t0) / HOUR_US)
        if viral.any():
            vr = np.flatnonzero(viral)
            viral_table = pieces[-1].take(pa.array(vr)).drop_columns(["_row"])
            viral_table = viral_table.append_column("_t", pa.array(t[originals][vr], type=pa.int64()))
            viral_table = viral_table.append_column("_w", pa.array(weight[vr]))
            viral_table = viral_table.append_column("_p", pa.array(platform[originals][vr].astype(np.int8)))
            self.pool = pa.concat_tables([self.pool, viral_table.select(_POOL_SCHEMA.names)])

        if len(camp_rows):
            pieces.append(self._campaign_piece(crow[camp_rows], pids.take(pa.array(camp_rows)), camp_rows))
            self._amplify(rng, pieces[-1], t[camp_rows], platform[camp_rows], acct[camp_rows])

        shares = np.flatnonzero(kind == 1)
        replies = np.flatnonzero(kind == 2)
        share_target = pick_targets(rng, self.pool, platform[shares], t[shares], len(names))
        reply_target = pick_targets(rng, self.pool, platform[replies], t[replies], len(names))
        ok = share_target >= 0
        if ok.any():
            rows = shares[ok]
            cols = reshare_columns(w, self.pool, share_target[ok], acct[rows], t[rows])
            pieces.append(_piece(cols, pids.take(pa.array(rows)), rows))
        # Replies, and reshares that found nothing recent to reshare (they become originals).
        rest = np.concatenate([replies, shares[~ok]])
        if len(rest):
            target = np.concatenate([reply_target, np.full(int((~ok).sum()), -1)])
            mask = target < 0
            safe = pa.array(np.where(mask, 0, target), mask=mask)
            reply_to = (
                self.pool.column("post_id").combine_chunks().take(safe)
                if self.pool.num_rows
                else pa.nulls(len(rest), pa.string())
            )
            handle = (
                self.pool.column("account_handle").combine_chunks().take(safe)
                if self.pool.num_rows
                else pa.nulls(len(rest), pa.string())
            )
            cols = compose_posts(
                w, rng, acct[rest], t[rest], event[rest], reply_to=reply_to, reply_handle=handle
            )
            pieces.append(_piece(cols, pids.take(pa.array(rest)), rest))

        table = pa.concat_tables(pieces)
        table = table.sort_by("_row").drop_columns(["_row"])
        self.pool = self.pool.filter(pa.array(self.pool.column("_t").to_numpy() >= t1 - POOL_HOURS * HOUR_US))
        return table

    def _amplify(
        self, rng: np.random.Generator, piece: pa.Table, t: np.ndarray, platform: np.ndarray, acct: np.ndarray
    ) -> None:
        """Some campaign originals reach organic accounts, who reshare them like any viral post
        (organic amplification: the resharers are not coordinated, though they share campaign items)."""
        share = self.plan.config.profile.amplification
        original = np.asarray(piece.column("reshare_of").is_null())
        chosen = np.flatnonzero(original & (rng.random(len(t)) < share))
        if not len(chosen):
            return
        followers = self.plan.world.accounts.followers[acct[chosen]]
        weight = (1 + rng.pareto(1.3, size=len(chosen))) * np.log(2 + followers)
        rows = piece.take(pa.array(chosen)).drop_columns(["_row"])
        rows = rows.append_column("_t", pa.array(t[chosen], type=pa.int64()))
        rows = rows.append_column("_w", pa.array(weight))
        rows = rows.append_column("_p", pa.array(platform[chosen].astype(np.int8)))
        pool = pa.concat_tables([self.pool, rows.select(_POOL_SCHEMA.names)])
        self.pool = pool.take(pc.sort_indices(pool, [("_t", "ascending")]))

    def _campaign_piece(self, crow: np.ndarray, pid: pa.Array, rows: np.ndarray) -> pa.Table:
        camp = self.plan.campaign
        acc = self.plan.world.accounts
        cols = {
            name: camp.columns.column(name).combine_chunks().take(pa.array(crow))
            for name in camp.columns.column_names
        }
        target = camp.target[crow]
        has = target >= 0
        reshare = pa.nulls(len(crow), pa.string())
        if has.any():
            tk = self.campaign_key[target[has]]
            if (tk < 0).any():
                raise AssertionError("a campaign reshare was written before its target")
            tacct = camp.acct[target[has]]
            tid = post_ids(acc.platforms, acc.platform[tacct], acc.account_id.take(pa.array(tacct)), tk)
            idx = np.where(has, np.cumsum(has) - 1, 0)
            reshare = tid.take(pa.array(idx, mask=~has))
        cols["reshare_of"] = reshare
        return _piece(cols, pid, rows)
