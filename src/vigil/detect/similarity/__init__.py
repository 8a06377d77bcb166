"""Similarity primitives for the content traces: MinHash/LSH over text shingles, PDQ Hamming search,
multilingual sentence embeddings, and clustering of candidate pairs into items.

Each module is pure computation on numpy/Arrow arrays; the traces in :mod:`vigil.detect.traces`
do the I/O (DuckDB) and turn clusters into events.
"""
