"""The hub's tables. The database is the system of record; the bus only carries notices."""

from __future__ import annotations

from sqlalchemy import (
    Boolean,
    Column,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from hub.store.types import BigId, Json, UtcDateTime

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
    }
)

work_orders = Table(
    "work_orders",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("wo_no", String(32), nullable=False, unique=True),
    Column("query_code_hash", String(64), nullable=False),
    Column("status", String(32), nullable=False, index=True),
    Column("channel", String(32), nullable=False),
    Column("source_system", String(64)),
    Column("external_id", String(64)),
    Column("source_hotline", String(8)),
    Column("appeal_type", String(16), nullable=False),
    Column("category_code", String(32), index=True),
    Column("section_code", String(32)),
    Column("title", String(100), nullable=False),
    Column("content", Text, nullable=False),
    Column("urgency", String(16), nullable=False),
    Column("region_code", String(12), index=True),
    Column("location", Json),
    Column("requester", Json, nullable=False),
    Column("matter_code", String(24)),
    Column("attachments", Json, nullable=False),
    Column("attributes", Json, nullable=False),
    Column("occurred_at", UtcDateTime),
    Column("sla", Json, nullable=False),
    Column("reply", Json),
    Column("revisit", Json),
    Column("parent_wo_no", String(32), index=True),
    Column("duplicate_of", String(32), index=True),
    Column("open311_token", String(64), unique=True),
    Column("created_at", UtcDateTime, nullable=False, index=True),
    Column("updated_at", UtcDateTime, nullable=False),
    Column("closed_at", UtcDateTime),
    Column("version", Integer, nullable=False, default=1),
    # Set while an order waits in the response centre's manual triage queue (人工分单).
    Column("triage_queue", String(16), index=True),
    # Supervision marks already made (预警/催办/督办/超期), so a sweep never repeats one.
    Column("supervision", Json),
    UniqueConstraint("source_system", "external_id"),
)

assignments = Table(
    "assignments",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("wo_no", String(32), ForeignKey("work_orders.wo_no"), nullable=False, index=True),
    Column("unit_code", String(32), nullable=False, index=True),
    Column("role", String(8), nullable=False),
    Column("state", String(16), nullable=False),
    Column("delivery_state", String(16), nullable=False),
    Column("connector", String(64)),
    Column("external_id", String(128)),
    Column("due_at", UtcDateTime),
    Column("dispatched_at", UtcDateTime),
    Column("signed_at", UtcDateTime),
    Column("fed_back_at", UtcDateTime),
    Column("feedback", Text),
    Column("return_count", Integer, nullable=False, default=0),
    # The number the department system knows the task by: the work-order number, with a
    # suffix when the same unit gets the order again (reopened, overruled return).
    Column("dispatch_key", String(40)),
    Column("attempts", Integer, nullable=False, default=0),
    Column("last_error", Text),
    Column("next_attempt_at", UtcDateTime),
    Column("created_at", UtcDateTime, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
    # Feedback finds the assignment by the department system's id.
    Index("ix_assignments_connector_external_id", "connector", "external_id"),
)

# Append-only (triggers in the migration refuse UPDATE and DELETE): the public timeline
# (public = true) and the audit trail (everything) in one table.
events = Table(
    "events",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("wo_no", String(32), ForeignKey("work_orders.wo_no"), nullable=False),
    Column("seq", Integer, nullable=False),
    Column("at", UtcDateTime, nullable=False),
    Column("actor", String(100), nullable=False),
    Column("action", String(32), nullable=False),
    Column("state_before", String(32)),
    Column("state_after", String(32)),
    Column("public", Boolean, nullable=False),
    Column("note", Text),
    Column("unit_code", String(32)),
    Column("data", Json, nullable=False),
    UniqueConstraint("wo_no", "seq"),
)

outbox = Table(
    "outbox",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("message_id", String(36), nullable=False, unique=True),
    Column("topic", String(64), nullable=False),
    Column("key", String(64)),
    Column("payload", Json, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("published_at", UtcDateTime),
    # Handed by the writing process to its own relay right after commit (hub.store.outbox):
    # other relays leave the row alone until then, and publish it if it is still unpublished.
    Column("lease_until", UtcDateTime),
    Column("attempts", Integer, nullable=False, default=0),
    Column("last_error", Text),
    Index("ix_outbox_unpublished", "published_at", "id"),
)

# Serial numbers for wo_no on SQLite (PostgreSQL uses the sequence work_order_seq instead).
counters = Table(
    "counters",
    metadata,
    Column("name", String(32), primary_key=True),
    Column("value", BigId, nullable=False),
)

processed_messages = Table(
    "processed_messages",
    metadata,
    Column("consumer", String(64), primary_key=True),
    Column("message_id", String(64), primary_key=True),
    Column("processed_at", UtcDateTime, nullable=False),
)

api_keys = Table(
    "api_keys",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("name", String(100), nullable=False),
    Column("scope", String(64), nullable=False),
    Column("prefix", String(16), nullable=False),
    Column("key_hash", String(64), nullable=False, unique=True),
    Column("created_at", UtcDateTime, nullable=False),
    Column("revoked_at", UtcDateTime),
)

idempotency_keys = Table(
    "idempotency_keys",
    metadata,
    Column("api_key_id", BigId, primary_key=True),
    Column("key", String(200), primary_key=True),
    Column("request_hash", String(64), nullable=False),
    Column("status_code", Integer, nullable=False),
    Column("response", Json, nullable=False),
    Column("created_at", UtcDateTime, nullable=False, index=True),
)

org_units = Table(
    "org_units",
    metadata,
    Column("code", String(32), primary_key=True),
    Column("name", String(100), nullable=False),
    Column("short_name", String(100)),
    Column("tier", String(32), nullable=False),
    Column("parent", String(32)),
    Column("region_codes", Json, nullable=False),
    Column("connector", String(64)),
    Column("contact_phone", String(32)),
    Column("duties", Json, nullable=False),
)

portal_sections = Table(
    "portal_sections",
    metadata,
    Column("code", String(32), primary_key=True),
    Column("name", String(100), nullable=False),
    Column("order", Integer, nullable=False),
    Column("description", Text),
)

categories = Table(
    "categories",
    metadata,
    Column("code", String(32), primary_key=True),
    Column("name", String(100), nullable=False),
    Column("section", String(32), nullable=False),
    Column("group", String(100)),
    Column("description", Text),
    Column("keywords", Json, nullable=False),
    Column("lead_unit", String(32)),
    Column("co_units", Json, nullable=False),
    Column("tier", String(32), nullable=False),
    Column("attributes", Json, nullable=False),
)

hotlines = Table(
    "hotlines",
    metadata,
    Column("number", String(8), primary_key=True),
    Column("name", String(100), nullable=False),
    Column("default_category", String(32)),
    Column("default_unit", String(32)),
)

# Anything from outside that could not be mapped or validated: kept whole, with the reason,
# until someone fixes the mapping and replays it (never silently dropped).
dead_letters = Table(
    "dead_letters",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("source", String(64), nullable=False),  # connector name, or "bus", "api"
    Column("stream", String(64)),
    Column("payload", Text, nullable=False),
    Column("payload_format", String(16), nullable=False),  # xml | json | row | text | base64
    Column("field_path", String(200)),
    Column("reason", Text, nullable=False),
    Column("created_at", UtcDateTime, nullable=False, index=True),
    Column("replayed_at", UtcDateTime),
)

# Where each incremental stream got to; saved in the transaction that stores the batch.
sync_cursors = Table(
    "sync_cursors",
    metadata,
    Column("connector", String(64), primary_key=True),
    Column("stream", String(64), primary_key=True),
    Column("value", Text, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
)

# The matter catalogue: one current row per implementation code, and every version it had.
service_matters = Table(
    "service_matters",
    metadata,
    Column("implementation_code", String(24), primary_key=True),
    Column("basic_code", String(10), nullable=False, index=True),
    Column("name", String(200), nullable=False),
    Column("matter_type", String(2), nullable=False),
    Column("use_level", String(1), nullable=False),
    Column("unit_code", String(32), index=True),
    Column("unit_name", String(200), nullable=False),
    Column("status", String(16), nullable=False, index=True),
    Column("version_no", Integer, nullable=False),
    Column("content_hash", String(64), nullable=False),
    Column("data", Json, nullable=False),
    Column("source", String(64), nullable=False),
    Column("changed_at", UtcDateTime),
    Column("created_at", UtcDateTime, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
)

service_matter_versions = Table(
    "service_matter_versions",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("implementation_code", String(24), nullable=False),
    Column("version_no", Integer, nullable=False),
    Column("status", String(16), nullable=False),
    Column("content_hash", String(64), nullable=False),
    Column("data", Json, nullable=False),
    Column("changed_at", UtcDateTime),
    Column("valid_from", UtcDateTime, nullable=False),
    Column("valid_to", UtcDateTime),
    UniqueConstraint("implementation_code", "version_no"),
)

# The hub's own inbox, for units with no system of their own (towns, villages, small units):
# what a connector would have delivered lands here and the unit acts on it through the API.
inbox_items = Table(
    "inbox_items",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("unit_code", String(32), nullable=False, index=True),
    Column("kind", String(16), nullable=False),  # dispatch | urge | notice
    Column("wo_no", String(32), index=True),
    Column("idempotency_key", String(100), nullable=False, unique=True),
    Column("title", String(200), nullable=False),
    Column("body", Json, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("read_at", UtcDateTime),
)


callback_nonces = Table(
    "callback_nonces",
    metadata,
    Column("connector", String(64), primary_key=True),
    Column("nonce", String(64), primary_key=True),
    Column("seen_at", UtcDateTime, nullable=False, index=True),
)


# --- matter search, cases and sync fingerprints (migration 0007) ---------------------------

# The catalogue's search read model: one row per matter with its name and keywords
# normalised (NFKC, lower case) and the filter columns that otherwise live only in `data`.
service_matter_search = Table(
    "service_matter_search",
    metadata,
    Column("implementation_code", String(24), primary_key=True),
    Column("basic_code", String(10), nullable=False),
    Column("name", String(200), nullable=False),
    Column("keywords", Text, nullable=False),  # one keyword per line
    Column("unit_code", String(32), index=True),
    Column("matter_type", String(2), nullable=False),
    Column("use_level", String(1), nullable=False),
    Column("online", Boolean, nullable=False),
    Column("visits_required", Integer, nullable=False),
    Column("status", String(16), nullable=False),
)

# Character bigrams (二元切分) of every matter's name and keywords: Chinese has no spaces to
# split words on, so a query's bigrams all present is the candidate test, on both databases.
service_matter_grams = Table(
    "service_matter_grams",
    metadata,
    Column("gram", String(2), primary_key=True),
    Column("implementation_code", String(24), primary_key=True),
    sqlite_with_rowid=False,
)

# Cases (办件) with their compliance, judged against the matter version in force when each
# was accepted: the promised deadline and the visits allowed are kept on the row.
cases = Table(
    "cases",
    metadata,
    Column("case_no", String(64), primary_key=True),
    Column("implementation_code", String(24), nullable=False, index=True),
    Column("unit_code", String(32), index=True),
    Column("matter_version_no", Integer),
    Column("channel", String(32), nullable=False),
    Column("case_type", String(1), nullable=False),
    Column("applied_at", UtcDateTime, nullable=False),
    Column("accepted_at", UtcDateTime, index=True),
    Column("promised_at", UtcDateTime),
    Column("due_at", UtcDateTime),
    Column("promised_days", Integer),
    Column("finished_at", UtcDateTime, index=True),
    Column("result", String(16)),
    Column("visits", Integer, nullable=False),
    Column("visits_allowed", Integer),
    Column("visits_ok", Boolean),
    Column("on_time", Boolean),
    Column("satisfaction", String(1)),
    Column("flags", Json, nullable=False),
    Column("data", Json, nullable=False),
    Column("content_hash", String(64), nullable=False),
    Column("source", String(64), nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
)

# What each pulled record looked like when it was last stored (a digest of the raw record
# and the mapping): a re-sync skips mapping and validating records it has seen unchanged.
sync_fingerprints = Table(
    "sync_fingerprints",
    metadata,
    Column("connector", String(64), primary_key=True),
    Column("stream", String(64), primary_key=True),
    Column("record_key", String(100), primary_key=True),
    Column("digest", String(40), nullable=False),
    Index("ix_sync_fingerprints_connector_stream_digest", "connector", "stream", "digest"),
)

# Whole pages of a fingerprinted stream that were stored completely: the same bytes again
# (an unchanged re-read) are skipped without being parsed. Pruned after some weeks.
sync_pages = Table(
    "sync_pages",
    metadata,
    Column("connector", String(64), primary_key=True),
    Column("stream", String(64), primary_key=True),
    Column("digest", String(40), primary_key=True),
    Column("records", Integer, nullable=False),
    Column("cursor", Text),
    Column("seen_at", UtcDateTime, nullable=False),
)
