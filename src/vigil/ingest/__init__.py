"""Ingest: source files of any supported layout -> Vigil's posts and accounts tables.

Public entry points (import them from their modules; this package imports nothing heavy so that
``vigil.ingest.urls`` stays cheap to import):

* ``vigil.ingest.pipeline.ingest(inputs, layout=..., out_dir=...) -> IngestSummary``
* ``vigil.ingest.urls.canonicalize(url) -> UrlInfo``, ``registrable_domain(host)``
* ``vigil.ingest.lang.detect_language(text)``, ``detect_languages(texts)``
* ``vigil.ingest.entities.extract_hashtags / extract_mentions / extract_urls``
* ``vigil.ingest.adapters.ADAPTERS`` (one ``Adapter`` per ``--layout``)

docs/schema.md describes the tables, the layouts and the rules.
"""
