"""The decision log's tables (SQLAlchemy Core), one definition for SQLite and PostgreSQL.

`decisions` holds one row per answer of classify, batch or timeline; `decision_contacts`
one row per contact classified in it (its date, type, rule and rule set), so a listing
can filter by rule, contact type or rule-set version without reading the JSON.
The migrations under migrations/versions create exactly these tables.
"""

from __future__ import annotations

import sqlalchemy as sa

metadata = sa.MetaData()

decisions = sa.Table(
    "decisions", metadata,
    sa.Column("decision_id", sa.String(36), primary_key=True),
    sa.Column("recorded_at", sa.DateTime(), nullable=False, index=True),  # UTC
    sa.Column("caller", sa.String(200), nullable=False, index=True),
    sa.Column("kind", sa.String(16), nullable=False),  # classify | batch | timeline
    sa.Column("stored", sa.String(8), nullable=False),  # request | digest
    sa.Column("request_sha256", sa.String(64), nullable=False),
    sa.Column("request", sa.Text, nullable=True),  # the request as it came (JSON); NULL when stored = digest
    sa.Column("answer", sa.Text, nullable=False),  # the answer as returned (JSON)
)

decision_contacts = sa.Table(
    "decision_contacts", metadata,
    sa.Column("decision_id", sa.String(36), sa.ForeignKey("decisions.decision_id", ondelete="CASCADE"),
              primary_key=True),
    sa.Column("position", sa.Integer, primary_key=True),  # index in the answer's results (0 for classify)
    sa.Column("contact_date", sa.Date, nullable=True),
    sa.Column("contact_type", sa.String(32), nullable=False, index=True),
    sa.Column("rule", sa.String(32), nullable=False, index=True),
    sa.Column("ruleset_name", sa.String(100), nullable=False),
    sa.Column("ruleset_version", sa.String(50), nullable=False, index=True),
    sa.Column("ruleset_status", sa.String(20), nullable=False),
    sa.Column("ruleset_sha256", sa.String(64), nullable=False),
)
