"""The first schema: runs, their objectives and their findings.

Revision ID: 0001
Revises:
Create Date: 2026-12-01
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
        "runs",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("uid", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("profile", sa.String(200), nullable=False),
        sa.Column("profile_hash", sa.String(64), nullable=False),
        sa.Column("target", sa.String(500), nullable=False),
        sa.Column("binding", sa.String(200), nullable=False),
        sa.Column("label", sa.String(200)),
        sa.Column("started", sa.DateTime(timezone=True), nullable=False),
        sa.Column("recorded", sa.DateTime(timezone=True), nullable=False),
        sa.Column("machine", sa.String(200)),
        sa.Column("locale", sa.String(32)),
        sa.Column("valid", sa.Boolean, nullable=False),
        sa.Column("exit_code", sa.Integer),
        sa.Column("requests", sa.Integer),
        sa.Column("errors", sa.Integer),
        sa.Column("time_scale", sa.Float),
        sa.Column("rate_scale", sa.Float),
        sa.Column("workers", sa.Integer),
        sa.Column("phase", sa.String(200)),
        sa.Column("capacity", sa.Float),
        sa.Column("capacity_low", sa.Float),
        sa.Column("capacity_high", sa.Float),
        sa.Column("capacity_per_s", sa.Float),
        sa.Column("folder", sa.Text, nullable=False),
        sa.Column("report", sa.Text),
        sa.Column("link", sa.Text),
        sa.Column("version", sa.String(50)),
        sa.PrimaryKeyConstraint("id", name="pk_runs"),
        sa.UniqueConstraint("uid", name="uq_runs_uid"),
    )
    op.create_index(
        "ix_runs_profile_hash_target_kind_started",
        "runs",
        ["profile_hash", "target", "kind", "started"],
    )
    op.create_index("ix_runs_profile_started", "runs", ["profile", "started"])
    op.create_table(
        "objectives",
        sa.Column("run_id", sa.Integer, nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("metric", sa.String(50), nullable=False),
        sa.Column("limit_value", sa.Float),
        sa.Column("budget", sa.Float),
        sa.Column("requests", sa.Integer),
        sa.Column("bad", sa.Integer),
        sa.Column("share", sa.Float),
        sa.Column("outside_requests", sa.Integer),
        sa.Column("outside_bad", sa.Integer),
        sa.Column("value", sa.Float),
        sa.Column("passed", sa.Boolean),
        sa.Column("held", sa.Boolean),
        sa.PrimaryKeyConstraint("run_id", "name", name="pk_objectives"),
        sa.ForeignKeyConstraint(
            ["run_id"], ["runs.id"], name="fk_objectives_run_id_runs", ondelete="CASCADE"
        ),
    )
    op.create_table(
        "findings",
        sa.Column("run_id", sa.Integer, nullable=False),
        sa.Column("position", sa.Integer, nullable=False),
        sa.Column("tone", sa.String(8), nullable=False),
        sa.Column("message", sa.Text, nullable=False),
        sa.Column("figures", sa.JSON, nullable=False),
        sa.Column("anchor", sa.String(100)),
        sa.PrimaryKeyConstraint("run_id", "position", name="pk_findings"),
        sa.ForeignKeyConstraint(
            ["run_id"], ["runs.id"], name="fk_findings_run_id_runs", ondelete="CASCADE"
        ),
    )


def downgrade() -> None:
    op.drop_table("findings")
    op.drop_table("objectives")
    op.drop_table("runs")
