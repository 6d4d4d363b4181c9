"""The history's tables (SQLAlchemy Core), as the newest migration leaves them.

One row of `runs` per recorded run (a rehearsal or a capacity search), identified by `uid`, a
digest of what the run folder says it was (`surge.history.entry`), so recording the same run
again, from `surge rehearse` and then `surge gate`, or by `surge history import`, replaces its
row instead of adding one. Each objective of a rehearsal is a row of `objectives` (its counts,
its whole-run value and verdict), each finding a row of `findings`. The migrations
(`surge/history/migrations/versions/`) create and change these tables; a change here is a new
migration there (docs/history.md).
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
)

HEAD = "0001"
"""The newest migration's revision: a history at it is opened without loading Alembic
(tests/test_history_store.py holds it to the migrations' own head)."""

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

runs = Table(
    "runs",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("uid", String(64), nullable=False, unique=True),
    Column("kind", String(16), nullable=False),
    Column("profile", String(200), nullable=False),
    Column("profile_hash", String(64), nullable=False),
    Column("target", String(500), nullable=False),
    Column("binding", String(200), nullable=False),
    Column("label", String(200)),
    Column("started", DateTime(timezone=True), nullable=False),
    Column("recorded", DateTime(timezone=True), nullable=False),
    Column("machine", String(200)),
    Column("locale", String(32)),
    Column("valid", Boolean, nullable=False),
    Column("exit_code", Integer),
    Column("requests", Integer),
    Column("errors", Integer),
    Column("time_scale", Float),
    Column("rate_scale", Float),
    Column("workers", Integer),
    Column("phase", String(200)),
    Column("capacity", Float),
    Column("capacity_low", Float),
    Column("capacity_high", Float),
    Column("capacity_per_s", Float),
    Column("folder", Text, nullable=False),
    Column("report", Text),
    Column("link", Text),
    Column("version", String(50)),
    Index(None, "profile_hash", "target", "kind", "started"),
    Index(None, "profile", "started"),
)

objectives = Table(
    "objectives",
    metadata,
    Column("run_id", Integer, ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True),
    Column("name", String(200), primary_key=True),
    Column("metric", String(50), nullable=False),
    Column("limit_value", Float),
    Column("budget", Float),
    Column("requests", Integer),
    Column("bad", Integer),
    Column("share", Float),
    Column("outside_requests", Integer),
    Column("outside_bad", Integer),
    Column("value", Float),
    Column("passed", Boolean),
    Column("held", Boolean),
)

findings = Table(
    "findings",
    metadata,
    Column("run_id", Integer, ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True),
    Column("position", Integer, primary_key=True),
    Column("tone", String(8), nullable=False),
    Column("message", Text, nullable=False),
    Column("figures", JSON, nullable=False),
    Column("anchor", String(100)),
)
