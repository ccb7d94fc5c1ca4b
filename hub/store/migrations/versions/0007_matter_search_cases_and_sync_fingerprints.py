"""matter search (normalised read model and bigrams), cases with compliance, sync fingerprints
and remembered pages

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-27 04:00:00
"""

from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql


revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def _json() -> sa.types.TypeEngine:
    return sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql')


def upgrade() -> None:
    op.create_table(
        'service_matter_search',
        sa.Column('implementation_code', sa.String(length=24), nullable=False),
        sa.Column('basic_code', sa.String(length=10), nullable=False),
        sa.Column('name', sa.String(length=200), nullable=False),
        sa.Column('keywords', sa.Text(), nullable=False),
        sa.Column('unit_code', sa.String(length=32), nullable=True),
        sa.Column('matter_type', sa.String(length=2), nullable=False),
        sa.Column('use_level', sa.String(length=1), nullable=False),
        sa.Column('online', sa.Boolean(), nullable=False),
        sa.Column('visits_required', sa.Integer(), nullable=False),
        sa.Column('status', sa.String(length=16), nullable=False),
        sa.PrimaryKeyConstraint('implementation_code', name=op.f('pk_service_matter_search')),
    )
    with op.batch_alter_table('service_matter_search', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_service_matter_search_unit_code'), ['unit_code'],
                              unique=False)

    op.create_table(
        'service_matter_grams',
        sa.Column('gram', sa.String(length=2), nullable=False),
        sa.Column('implementation_code', sa.String(length=24), nullable=False),
        sa.PrimaryKeyConstraint('gram', 'implementation_code',
                                name=op.f('pk_service_matter_grams')),
        sqlite_with_rowid=False,
    )

    op.create_table(
        'cases',
        sa.Column('case_no', sa.String(length=64), nullable=False),
        sa.Column('implementation_code', sa.String(length=24), nullable=False),
        sa.Column('unit_code', sa.String(length=32), nullable=True),
        sa.Column('matter_version_no', sa.Integer(), nullable=True),
        sa.Column('channel', sa.String(length=32), nullable=False),
        sa.Column('case_type', sa.String(length=1), nullable=False),
        sa.Column('applied_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('accepted_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('promised_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('due_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('promised_days', sa.Integer(), nullable=True),
        sa.Column('finished_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('result', sa.String(length=16), nullable=True),
        sa.Column('visits', sa.Integer(), nullable=False),
        sa.Column('visits_allowed', sa.Integer(), nullable=True),
        sa.Column('visits_ok', sa.Boolean(), nullable=True),
        sa.Column('on_time', sa.Boolean(), nullable=True),
        sa.Column('satisfaction', sa.String(length=1), nullable=True),
        sa.Column('flags', _json(), nullable=False),
        sa.Column('data', _json(), nullable=False),
        sa.Column('content_hash', sa.String(length=64), nullable=False),
        sa.Column('source', sa.String(length=64), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('case_no', name=op.f('pk_cases')),
    )
    with op.batch_alter_table('cases', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_cases_implementation_code'),
                              ['implementation_code'], unique=False)
        batch_op.create_index(batch_op.f('ix_cases_unit_code'), ['unit_code'], unique=False)
        batch_op.create_index(batch_op.f('ix_cases_accepted_at'), ['accepted_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_cases_finished_at'), ['finished_at'], unique=False)

    op.create_table(
        'sync_fingerprints',
        sa.Column('connector', sa.String(length=64), nullable=False),
        sa.Column('stream', sa.String(length=64), nullable=False),
        sa.Column('record_key', sa.String(length=100), nullable=False),
        sa.Column('digest', sa.String(length=40), nullable=False),
        sa.PrimaryKeyConstraint('connector', 'stream', 'record_key',
                                name=op.f('pk_sync_fingerprints')),
    )
    with op.batch_alter_table('sync_fingerprints', schema=None) as batch_op:
        batch_op.create_index('ix_sync_fingerprints_connector_stream_digest',
                              ['connector', 'stream', 'digest'], unique=False)

    op.create_table(
        'sync_pages',
        sa.Column('connector', sa.String(length=64), nullable=False),
        sa.Column('stream', sa.String(length=64), nullable=False),
        sa.Column('digest', sa.String(length=40), nullable=False),
        sa.Column('records', sa.Integer(), nullable=False),
        sa.Column('cursor', sa.Text(), nullable=True),
        sa.Column('seen_at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('connector', 'stream', 'digest', name=op.f('pk_sync_pages')),
    )

    _fill_search_from_the_catalogue()


def _fill_search_from_the_catalogue() -> None:
    """Matters stored before this revision get their search rows (a no-op when empty)."""
    from hub.store.search import rebuild_search_index

    rebuild_search_index(op.get_bind())


def downgrade() -> None:
    op.drop_table('sync_pages')

    with op.batch_alter_table('sync_fingerprints', schema=None) as batch_op:
        batch_op.drop_index('ix_sync_fingerprints_connector_stream_digest')
    op.drop_table('sync_fingerprints')

    with op.batch_alter_table('cases', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_cases_finished_at'))
        batch_op.drop_index(batch_op.f('ix_cases_accepted_at'))
        batch_op.drop_index(batch_op.f('ix_cases_unit_code'))
        batch_op.drop_index(batch_op.f('ix_cases_implementation_code'))
    op.drop_table('cases')

    op.drop_table('service_matter_grams')

    with op.batch_alter_table('service_matter_search', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_service_matter_search_unit_code'))
    op.drop_table('service_matter_search')
