"""Alembic migrations of the exchange database (run with ``vigil db upgrade``)."""
