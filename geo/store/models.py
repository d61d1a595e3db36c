"""The store: SQLAlchemy models, engine set-up and schema migrations.

SQLite (a file under ``instance/``) is the embedded default; any SQLAlchemy URL
(``DATABASE_URL``) selects another database. Geometries are kept as WKB in a
plain binary column so that the same schema runs on SQLite and PostgreSQL;
times are kept in UTC together with the local date (in TIMEZONE, the import's
setting) that period filters use.
"""
from __future__ import annotations

import datetime as dt
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import (
    Boolean,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    PrimaryKeyConstraint,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
    create_engine,
    event,
    text,
)
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from geo import format
from geo.errors import InputError
from geo.resources import resource


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


class Base(DeclarativeBase):
    pass


class BoundaryVersion(Base):
    """A named set of administrative units valid over a span of dates."""

    __tablename__ = "boundary_version"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    title: Mapped[str] = mapped_column(String(200), default="")
    valid_from: Mapped[dt.date | None] = mapped_column(Date)
    valid_to: Mapped[dt.date | None] = mapped_column(Date)
    source: Mapped[str] = mapped_column(Text, default="")
    licence: Mapped[str] = mapped_column(Text, default="")
    attribution: Mapped[str] = mapped_column(Text, default="")
    sha256: Mapped[str] = mapped_column(String(64), default="")
    loaded_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    areas: Mapped[list[Area]] = relationship(back_populates="version", cascade="all, delete-orphan")


class Area(Base):
    """One administrative unit (ward, commune, special zone) of a boundary version."""

    __tablename__ = "area"
    __table_args__ = (UniqueConstraint("version_id", "code"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    version_id: Mapped[int] = mapped_column(ForeignKey("boundary_version.id", ondelete="CASCADE"))
    code: Mapped[str] = mapped_column(String(32))
    name: Mapped[str] = mapped_column(String(200))
    parent_code: Mapped[str | None] = mapped_column(String(32))
    parent_name: Mapped[str | None] = mapped_column(String(200))
    level: Mapped[str | None] = mapped_column(String(64))
    population: Mapped[int | None] = mapped_column(Integer)
    area_km2: Mapped[float] = mapped_column(Float)
    geom_wkb: Mapped[bytes] = mapped_column(LargeBinary)

    version: Mapped[BoundaryVersion] = relationship(back_populates="areas")


class Crosswalk(Base):
    """Share of an old unit's area that lies in a new unit (e.g. 2019 -> 2025 wards)."""

    __tablename__ = "crosswalk"

    old_version_id: Mapped[int] = mapped_column(
        ForeignKey("boundary_version.id", ondelete="CASCADE"), primary_key=True)
    old_code: Mapped[str] = mapped_column(String(32), primary_key=True)
    new_version_id: Mapped[int] = mapped_column(
        ForeignKey("boundary_version.id", ondelete="CASCADE"), primary_key=True)
    new_code: Mapped[str] = mapped_column(String(32), primary_key=True)
    area_share: Mapped[float] = mapped_column(Float)


class ImportBatch(Base):
    """One import of one file, with its counts and the rows it rejected."""

    __tablename__ = "import_batch"

    id: Mapped[int] = mapped_column(primary_key=True)
    source: Mapped[str] = mapped_column(String(100))
    file_name: Mapped[str] = mapped_column(String(255))
    sha256: Mapped[str] = mapped_column(String(64))
    imported_by: Mapped[str] = mapped_column(String(100), default="")
    started_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    finished_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    status: Mapped[str] = mapped_column(String(16), default="running")
    accepted: Mapped[int] = mapped_column(Integer, default=0)
    updated: Mapped[int] = mapped_column(Integer, default=0)
    rejected: Mapped[int] = mapped_column(Integer, default=0)
    outside: Mapped[int] = mapped_column(Integer, default=0)
    message: Mapped[str] = mapped_column(Text, default="")
    warnings: Mapped[str] = mapped_column(Text, default="")
    rejected_csv: Mapped[str] = mapped_column(Text, default="")
    #: how the uploaded file was written (JSON: kind csv/xlsx, encoding, delimiter); "" before 0009
    rejected_format: Mapped[str] = mapped_column(String(100), default="", server_default="")


class Incident(Base):
    """One recorded incident. ``(source, external_id)`` identifies it across re-imports."""

    __tablename__ = "incident"
    __table_args__ = (
        UniqueConstraint("source", "external_id"),
        Index("ix_incident_local_date", "local_date"),
    )

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    source: Mapped[str] = mapped_column(String(100))
    external_id: Mapped[str] = mapped_column(String(100))
    occurred_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    local_date: Mapped[dt.date] = mapped_column(Date)
    # the file gave a time of day (else occurred_at is local midnight of the day)
    time_known: Mapped[bool | None] = mapped_column(Boolean)
    # the end of a time range ("từ 22h đến 6h"), when the file gave one
    occurred_to: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    # what the hour and weekday filters read: the local hour of occurred_at (NULL when the time is
    # unknown) and the weekday of local_date (0 = Monday)
    local_hour: Mapped[int | None] = mapped_column(SmallInteger)
    local_weekday: Mapped[int | None] = mapped_column(SmallInteger)
    category: Mapped[str] = mapped_column(String(40))
    category_raw: Mapped[str | None] = mapped_column(String(200))
    severity: Mapped[int | None] = mapped_column(Integer)
    cleared: Mapped[bool | None] = mapped_column(Boolean)
    lon: Mapped[float | None] = mapped_column(Float)
    lat: Mapped[float | None] = mapped_column(Float)
    orig_x: Mapped[float | None] = mapped_column(Float)
    orig_y: Mapped[float | None] = mapped_column(Float)
    orig_crs: Mapped[str | None] = mapped_column(String(200))
    address: Mapped[str | None] = mapped_column(Text)
    ward_given: Mapped[str | None] = mapped_column(String(200))
    district_given: Mapped[str | None] = mapped_column(String(200))
    description: Mapped[str | None] = mapped_column(Text)
    # the unit named in the file when the row had no coordinates
    given_area_id: Mapped[int | None] = mapped_column(ForeignKey("area.id", ondelete="SET NULL"))
    batch_id: Mapped[int] = mapped_column(ForeignKey("import_batch.id"))


class IncidentArea(Base):
    """The unit an incident falls in, for every boundary version it falls in.

    No row means the incident lies outside every unit of that version.
    ``method`` says how the unit was found: ``within`` (point in polygon),
    ``nearest`` (within the tolerance of the nearest unit), ``given`` (ward
    code or name in the file), ``crosswalk`` (a given ward carried to another
    version). Rows are keyed (version, incident) without a rowid so that an
    import appends to the B-tree in order and a version is one range scan.
    Code that deletes incidents deletes their rows here too.
    """

    __tablename__ = "incident_area"
    __table_args__ = (PrimaryKeyConstraint("version_id", "incident_id"), {"sqlite_with_rowid": False})

    version_id: Mapped[int] = mapped_column(ForeignKey("boundary_version.id", ondelete="CASCADE"))
    # No foreign keys on these two: SQLite would check every one of millions of inserted rows, and
    # a parent delete would scan the table (no index leads with them). The importer writes them
    # from ids it has just read or made, and a version delete cascades through version_id.
    incident_id: Mapped[int] = mapped_column(Integer)
    area_id: Mapped[int] = mapped_column(Integer)
    method: Mapped[str] = mapped_column(String(16))
    distance_m: Mapped[float | None] = mapped_column(Float)


class AreaDay(Base):
    """Incidents per unit, local day and category, for every boundary version: what the maps and
    tables read, so that no page scans the raw incidents. Kept up to date by every import and
    boundary load (:func:`refresh_area_day`)."""

    __tablename__ = "area_day"
    __table_args__ = (PrimaryKeyConstraint("version_id", "local_date", "area_id", "category"),
                      {"sqlite_with_rowid": False})

    version_id: Mapped[int] = mapped_column(ForeignKey("boundary_version.id", ondelete="CASCADE"))
    local_date: Mapped[dt.date] = mapped_column(Date)
    area_id: Mapped[int] = mapped_column(Integer)
    category: Mapped[str] = mapped_column(String(40))
    n: Mapped[int] = mapped_column(Integer)
    n_cleared: Mapped[int] = mapped_column(Integer)
    n_sev1: Mapped[int] = mapped_column(Integer)
    n_sev2: Mapped[int] = mapped_column(Integer)
    n_sev3: Mapped[int] = mapped_column(Integer)
    n_sev4: Mapped[int] = mapped_column(Integer)


# the columns are named as in area_day, so that a query can read it as a derived table (geo.store.queries)
AREA_DAY_SELECT = (
    "SELECT ia.version_id AS version_id, i.local_date AS local_date, ia.area_id AS area_id, "
    "i.category AS category, COUNT(*) AS n, SUM(CASE WHEN i.cleared THEN 1 ELSE 0 END) AS n_cleared, "
    "SUM(CASE WHEN i.severity = 1 THEN 1 ELSE 0 END) AS n_sev1, SUM(CASE WHEN i.severity = 2 THEN 1 ELSE 0 END) "
    "AS n_sev2, SUM(CASE WHEN i.severity = 3 THEN 1 ELSE 0 END) AS n_sev3, "
    "SUM(CASE WHEN i.severity = 4 THEN 1 ELSE 0 END) AS n_sev4 "
    "FROM incident i JOIN incident_area ia ON ia.incident_id = i.id ")


def refresh_area_day(conn, *, version_id: int | None = None, start=None, end=None) -> None:
    """Recompute ``area_day`` for one version (or all) over [start, end] (or all dates), inside
    the caller's transaction."""
    where, params = [], {}
    if version_id is not None:
        where.append("version_id = :v")
        params["v"] = version_id
    if start is not None:
        where.append("local_date >= :s AND local_date <= :e")
        params.update(s=start, e=end)
    cond = (" WHERE " + " AND ".join(where)) if where else ""
    conn.execute(text("DELETE FROM area_day" + cond), params)
    src = cond.replace("version_id", "ia.version_id").replace("local_date", "i.local_date")
    conn.execute(text("INSERT INTO area_day (version_id, local_date, area_id, category, n, n_cleared, n_sev1, "
                      "n_sev2, n_sev3, n_sev4) " + AREA_DAY_SELECT + src
                      + " GROUP BY ia.version_id, i.local_date, ia.area_id, i.category"), params)


class Category(Base):
    """A crime category: the built-ins (seeded by the migration, never removed) and the ones users add.
    ``changed_at`` moves on every change of the category or its groups, so caches see it."""

    __tablename__ = "category"

    code: Mapped[str] = mapped_column(String(40), primary_key=True)
    label_vi: Mapped[str] = mapped_column(String(200))
    label_en: Mapped[str] = mapped_column(String(200))
    builtin: Mapped[bool] = mapped_column(Boolean, default=False)
    changed_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class CategoryGroup(Base):
    """A category's membership of a report group (the groups are the built-in ones of geo.categories)."""

    __tablename__ = "category_group"

    group_code: Mapped[str] = mapped_column(String(40), primary_key=True)
    category: Mapped[str] = mapped_column(ForeignKey("category.code", ondelete="CASCADE"), primary_key=True)


class SourceCategoryMap(Base):
    """A source's own labels and the category each is filed under, remembered for its next imports."""

    __tablename__ = "source_category_map"

    source: Mapped[str] = mapped_column(String(100), primary_key=True)
    label_folded: Mapped[str] = mapped_column(String(200), primary_key=True)
    label: Mapped[str] = mapped_column(String(200))  # as the file wrote it
    category: Mapped[str] = mapped_column(ForeignKey("category.code"))


class User(Base):
    """A person who signs in. Roles, each with the rights of the ones before it:
    viewer (aggregated maps and reports), committee (plans, decisions, assessments),
    analyst (imports, incident points, parameters, exports), admin (users, boundaries, audit)."""

    __tablename__ = "user_account"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    full_name: Mapped[str] = mapped_column(String(200), default="")
    role: Mapped[str] = mapped_column(String(16))
    password_hash: Mapped[str] = mapped_column(String(255))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    # part of every session cookie; raised on sign-out, password change and deactivation, which
    # ends every older session of the account
    session_version: Mapped[int] = mapped_column(Integer, default=0, server_default="0")


class ApiToken(Base):
    """A personal token for scripts (``Authorization: Bearer …``); only its SHA-256 is kept. A token
    without ``expires_at`` is refused like an expired one."""

    __tablename__ = "api_token"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(100), default="")
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    last_used_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    expires_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))  # refused from then on


class AuditLog(Base):
    """Who did what, when, from where: sign-ins, imports, exports, decisions, user changes."""

    __tablename__ = "audit_log"
    # the sign-in limits count failures by user name and by address within a time (geo.store.accounts)
    __table_args__ = (Index("ix_audit_log_at", "at"),
                      Index("ix_audit_log_action_target_at", "action", "target", "at"),
                      Index("ix_audit_log_action_ip_at", "action", "ip", "at"))

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    user_id: Mapped[int | None] = mapped_column(Integer)
    username: Mapped[str] = mapped_column(String(64), default="")
    action: Mapped[str] = mapped_column(String(40))
    target: Mapped[str] = mapped_column(String(255), default="")
    detail: Mapped[str] = mapped_column(Text, default="")
    ip: Mapped[str] = mapped_column(String(64), default="")


# --------------------------------------------------------------------------- committee work
# Plans, decisions, assessments and programme statuses of the crime-prevention committees
# (geo/committee/). Rows are only ever inserted: a correction is a new row whose
# ``supersedes_id`` names the row it replaces, and the current value is the newest row.


class CommitteePlan(Base):
    """A year's transformation plan ("chuyển hóa địa bàn trọng điểm, phức tạp") of one unit:
    the city, a district (before July 2025) or a ward (from July 2025)."""

    __tablename__ = "committee_plan"
    __table_args__ = (UniqueConstraint("year", "level", "unit_code"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    year: Mapped[int] = mapped_column(Integer)
    level: Mapped[str] = mapped_column(String(16))  # city, district, ward
    unit_code: Mapped[str] = mapped_column(String(32))
    unit_name: Mapped[str] = mapped_column(String(200))
    boundary: Mapped[str] = mapped_column(String(64))  # name of the boundary version
    cut: Mapped[str] = mapped_column(String(16), default="calendar")  # calendar or statistical
    categories: Mapped[str] = mapped_column(String(400), default="")  # comma-separated codes
    title: Mapped[str] = mapped_column(String(300), default="")
    created_by: Mapped[str] = mapped_column(String(64), default="")
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class CommitteeArea(Base):
    """An area a plan selected: a ward, a DBSCAN spot or a drawn polygon, with its polygon
    (WKB, WGS 84) and boundary version kept so that it stays traceable after boundary reforms."""

    __tablename__ = "committee_area"
    __table_args__ = (Index("ix_committee_area_plan", "plan_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    plan_id: Mapped[int] = mapped_column(ForeignKey("committee_plan.id"))
    kind: Mapped[str] = mapped_column(String(16))  # ward, spot, polygon
    source_code: Mapped[str] = mapped_column(String(64), default="")  # ward code or spot-N
    name: Mapped[str] = mapped_column(String(300))
    boundary: Mapped[str] = mapped_column(String(64))
    geom_wkb: Mapped[bytes] = mapped_column(LargeBinary)
    area_km2: Mapped[float] = mapped_column(Float)
    evidence: Mapped[str] = mapped_column(Text, default="{}")  # JSON: score, rank, reasons, counts
    created_by: Mapped[str] = mapped_column(String(64), default="")
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class CommitteeDecision(Base):
    """The committee's decision on a selected area: reason, target, responsible unit, who
    decided and when. A correction is a new row that supersedes the current one."""

    __tablename__ = "committee_decision"
    __table_args__ = (Index("ix_committee_decision_area", "area_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    area_id: Mapped[int] = mapped_column(ForeignKey("committee_area.id"))
    status: Mapped[str] = mapped_column(String(16), default="selected")  # selected, withdrawn
    reason: Mapped[str] = mapped_column(Text, default="")
    target_pct: Mapped[float] = mapped_column(Float)  # reduce incidents by this % against the base year
    responsible_unit: Mapped[str] = mapped_column(String(300), default="")
    decided_by: Mapped[str] = mapped_column(String(200), default="")
    decided_on: Mapped[dt.date] = mapped_column(Date)
    note: Mapped[str] = mapped_column(Text, default="")  # why a correction was made
    recorded_by: Mapped[str] = mapped_column(String(64), default="")
    recorded_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    supersedes_id: Mapped[int | None] = mapped_column(ForeignKey("committee_decision.id"))


class CommitteeAssessment(Base):
    """A year's assessment of a selected area: "đạt" (transformed) or "không đạt", with the
    figures the service proposed at the time. A correction is a new row that supersedes."""

    __tablename__ = "committee_assessment"
    __table_args__ = (Index("ix_committee_assessment_area_year", "area_id", "year"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    area_id: Mapped[int] = mapped_column(ForeignKey("committee_area.id"))
    year: Mapped[int] = mapped_column(Integer)
    result: Mapped[str] = mapped_column(String(16))  # dat, khong_dat
    note: Mapped[str] = mapped_column(Text, default="")
    proposal: Mapped[str] = mapped_column(Text, default="{}")  # JSON: the proposed figures
    recorded_by: Mapped[str] = mapped_column(String(64), default="")
    recorded_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    supersedes_id: Mapped[int | None] = mapped_column(ForeignKey("committee_assessment.id"))


class ProgrammeStatus(Base):
    """The status of a ward in one phase of a programme (e.g. "xã, phường không ma túy",
    phase 2 ending 14/5/2024). A correction is a new row that supersedes the current one."""

    __tablename__ = "programme_status"
    __table_args__ = (Index("ix_programme_status_unit", "unit_code", "programme", "phase"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    boundary: Mapped[str] = mapped_column(String(64))
    unit_code: Mapped[str] = mapped_column(String(32))
    unit_name: Mapped[str] = mapped_column(String(200))
    programme: Mapped[str] = mapped_column(String(200))
    phase: Mapped[str] = mapped_column(String(100))
    status: Mapped[str] = mapped_column(String(16))  # planned, in_progress, met, not_met
    valid_from: Mapped[dt.date | None] = mapped_column(Date)
    valid_to: Mapped[dt.date | None] = mapped_column(Date)
    note: Mapped[str] = mapped_column(Text, default="")
    recorded_by: Mapped[str] = mapped_column(String(64), default="")
    recorded_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    supersedes_id: Mapped[int | None] = mapped_column(ForeignKey("programme_status.id"))


class CommitteePlace(Base):
    """A repeat place ("tụ điểm") a plan adopted from the repeat-places page: where it is, the unit it
    lies in and the incidents it had when adopted. A removal is a new row (``status`` "removed")
    whose ``supersedes_id`` names the row it ends; rows are never overwritten."""

    __tablename__ = "committee_place"
    __table_args__ = (Index("ix_committee_place_plan", "plan_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    plan_id: Mapped[int] = mapped_column(ForeignKey("committee_plan.id"))
    status: Mapped[str] = mapped_column(String(16), default="adopted")  # adopted, removed
    kind: Mapped[str] = mapped_column(String(16))  # address, group
    place_key: Mapped[str] = mapped_column(String(400), default="")
    label: Mapped[str] = mapped_column(String(400))
    address: Mapped[str] = mapped_column(String(400), default="")
    lon: Mapped[float] = mapped_column(Float)
    lat: Mapped[float] = mapped_column(Float)
    radius_m: Mapped[float] = mapped_column(Float, default=0.0)
    boundary: Mapped[str] = mapped_column(String(64))
    unit_code: Mapped[str] = mapped_column(String(32), default="")
    unit_name: Mapped[str] = mapped_column(String(200), default="")
    incidents: Mapped[int] = mapped_column(Integer)  # at adoption, over the period below
    first_date: Mapped[dt.date | None] = mapped_column(Date)
    last_date: Mapped[dt.date | None] = mapped_column(Date)
    period_start: Mapped[dt.date] = mapped_column(Date)
    period_end: Mapped[dt.date] = mapped_column(Date)
    note: Mapped[str] = mapped_column(Text, default="")
    recorded_by: Mapped[str] = mapped_column(String(64), default="")
    recorded_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    supersedes_id: Mapped[int | None] = mapped_column(ForeignKey("committee_place.id"))


class Job(Base):
    """A long analysis run in the background (:mod:`geo.store.jobs`). It holds parameters only, never
    personal data; ``key`` identifies the parameters and the data version, so equal requests
    share one job. ``result`` is the finished answer as text (GeoJSON or JSON, never pickle)."""

    __tablename__ = "job"
    __table_args__ = (Index("ix_job_key", "key"), Index("ix_job_status", "status", "id"))

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(40))
    params: Mapped[str] = mapped_column(Text)  # JSON
    status: Mapped[str] = mapped_column(String(16), default="queued")  # queued, running, done, failed
    result: Mapped[str | None] = mapped_column(Text)
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    started_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    progress: Mapped[float | None] = mapped_column(Float)  # 0..1 while running (geo.store.jobs.run's report)
    stage: Mapped[str | None] = mapped_column(String(200))  # a catalogue msgid, put in words when read


# --------------------------------------------------------------------------- engine

def check_widths(model, values: dict, where: str) -> None:
    """Refuse (InputError) text longer than its column of ``model`` allows, naming the field: PostgreSQL
    would raise a bare error, SQLite would keep it silently."""

    for key, value in values.items():
        column = model.__table__.columns.get(key)
        width = getattr(getattr(column, "type", None), "length", None)
        if width and isinstance(value, str) and len(value) > width:
            raise InputError(format.gettext("%(where)s: `%(key)s` has %(n)s characters but may have at most "
                                            "%(max)s; shorten it and try again.", where=where, key=key,
                                            n=format.number(len(value)), max=format.number(width)))


def make_engine(url: str) -> Engine:
    """Create an engine; SQLite gets WAL, foreign keys and controllable BEGIN modes.

    An import asks for ``BEGIN IMMEDIATE`` with
    ``conn.execution_options(sqlite_begin="IMMEDIATE")`` so that it holds the
    write lock from its first statement (see SQLAlchemy's pysqlite notes on
    serializable isolation).
    """
    if url.startswith("sqlite:///"):
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": 60})

        @event.listens_for(engine, "connect")
        def _on_connect(dbapi_conn, _record):
            dbapi_conn.isolation_level = None  # let SQLAlchemy's BEGIN below drive transactions
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA cache_size=-131072")  # 128 MiB: large imports touch big indexes
            cur.close()

        @event.listens_for(engine, "begin")
        def _on_begin(conn):
            mode = conn.get_execution_options().get("sqlite_begin", "")
            conn.exec_driver_sql(f"BEGIN {mode}".strip())

        return engine
    return create_engine(url, pool_pre_ping=True)


MIGRATIONS_DIR = resource("migrations")


def alembic_config(url: str):
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def upgrade(url: str) -> None:
    """Bring the database at ``url`` to the newest schema (creates it when empty)."""

    command.upgrade(alembic_config(url), "head")
