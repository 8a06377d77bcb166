"""Alembic migrations of Vigil's database: the exchange's tables and those of its consumers
(cases, meetings, policies, web sessions). Run with ``vigil db upgrade``."""
