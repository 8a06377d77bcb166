"""An *approximate* PDQ index on faiss ``IndexBinaryIVF``: an option, not the default.

Codes are split into ``nlist`` inverted lists by their nearest of ``nlist`` sampled codes; a query scans the
``nprobe`` lists whose centroids are nearest, and keeps the codes within the radius. A true match
whose code landed in a list the query does not visit is missed, so recall is below 1: it depends
on the data and on ``nprobe``, and ``bench/pdq_index.py`` prints it beside the speed. Use it only
where a measured recall is acceptable; :class:`vigil.match.index.PdqIndex` is exact.

Each segment holds its own faiss index, built (trained) from its rows; tables are not saved
(faiss indexes serialize with their own format): a reopened index retrains, which costs seconds
per million codes.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import numpy.typing as npt

from vigil.match.index.pdq import PdqIndex
from vigil.match.index.segmented import Hits, empty_hits
from vigil.signals.base import SignalType


class PdqIvfIndex(PdqIndex):
    """PDQ within the radius through faiss ``IndexBinaryIVF`` (approximate: may miss matches)."""

    kind = "pdq-faiss-ivf"

    def __init__(
        self,
        signal_type: SignalType | None = None,
        threshold: float | None = None,
        *,
        threads: int | None = None,
        nprobe: int = 16,
    ) -> None:
        super().__init__(signal_type, threshold, threads=threads)
        self.nprobe = nprobe

    def _scan_only(self, rows: int) -> bool:
        return rows < 4096

    def _build_tables(self, rows: npt.NDArray[Any]) -> Any:
        import faiss

        n = len(rows)
        if n < 4096:
            return None  # a scan: exact and cheaper
        faiss.omp_set_num_threads(self.threads)
        nlist = max(16, 1 << round(math.log2(math.sqrt(n))))
        quantizer = faiss.IndexBinaryFlat(256)
        # Centroids are a random sample of the codes, not k-means: binary k-means in faiss trains in
        # float over 256 dimensions (minutes at a million codes), and on near-duplicate queries a
        # sampled code serves as well as a trained centroid (the recall is measured, not assumed).
        picks = np.random.default_rng(0).choice(n, nlist, replace=False)
        quantizer.add(np.ascontiguousarray(np.asarray(rows)[np.sort(picks)]))
        index = faiss.IndexBinaryIVF(quantizer, 256, nlist)  # faiss's wrapper keeps the quantizer alive
        index.is_trained = True
        index.add(np.ascontiguousarray(rows))
        return index

    def _table_arrays(self, tables: Any) -> dict[str, npt.NDArray[Any]]:
        return {}

    def _table_meta(self, tables: Any) -> dict[str, Any]:
        return {}

    def _tables_from_arrays(
        self, rows: npt.NDArray[Any], arrays: dict[str, npt.NDArray[Any]], meta: dict[str, Any]
    ) -> Any:
        return self._build_tables(rows)

    @property
    def table_bytes(self) -> int:
        # faiss keeps the codes and an 8-byte id per code in its lists, plus the centroids.
        return sum(len(seg.rows) * 40 for seg in self._segments)

    @property
    def layouts(self) -> list[str]:
        return [
            f"IVF{seg.tables.nlist}, nprobe {self.nprobe}" if seg.tables is not None else "scan"
            for seg in self._segments
        ]

    def _search_tables(self, tables: Any, rows: npt.NDArray[Any], queries: npt.NDArray[Any]) -> Hits:
        if tables is None:
            return self._search_brute(queries, rows)
        import faiss

        faiss.omp_set_num_threads(self.threads)
        tables.nprobe = self.nprobe
        # faiss keeps distances strictly below the radius it is given.
        lims, dist, found = tables.range_search(np.ascontiguousarray(queries), self.radius + 1)
        if not len(found):
            return empty_hits()
        q_of = np.repeat(np.arange(len(queries), dtype=np.intp), np.diff(lims).astype(np.intp))
        return q_of, found.astype(np.intp), dist.astype(np.float64)
