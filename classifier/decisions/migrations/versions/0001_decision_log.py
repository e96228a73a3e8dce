"""The decision log: decisions and the contacts classified in each.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "decisions",
        sa.Column("decision_id", sa.String(36), primary_key=True),
        sa.Column("recorded_at", sa.DateTime(), nullable=False),
        sa.Column("caller", sa.String(200), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("stored", sa.String(8), nullable=False),
        sa.Column("request_sha256", sa.String(64), nullable=False),
        sa.Column("request", sa.Text, nullable=True),
        sa.Column("answer", sa.Text, nullable=False),
    )
    op.create_index("ix_decisions_recorded_at", "decisions", ["recorded_at"])
    op.create_index("ix_decisions_caller", "decisions", ["caller"])
    op.create_table(
        "decision_contacts",
        sa.Column("decision_id", sa.String(36), sa.ForeignKey("decisions.decision_id", ondelete="CASCADE"),
                  primary_key=True),
        sa.Column("position", sa.Integer, primary_key=True),
        sa.Column("contact_date", sa.Date, nullable=True),
        sa.Column("contact_type", sa.String(32), nullable=False),
        sa.Column("rule", sa.String(32), nullable=False),
        sa.Column("ruleset_name", sa.String(100), nullable=False),
        sa.Column("ruleset_version", sa.String(50), nullable=False),
        sa.Column("ruleset_status", sa.String(20), nullable=False),
        sa.Column("ruleset_sha256", sa.String(64), nullable=False),
    )
    for col in ("contact_type", "rule", "ruleset_version"):
        op.create_index(f"ix_decision_contacts_{col}", "decision_contacts", [col])


def downgrade() -> None:
    op.drop_table("decision_contacts")
    op.drop_table("decisions")
