"""workflow: dispatch attempts, manual triage queue, supervision marks, callback nonces

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-27 03:30:00
"""

from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql


revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'callback_nonces',
        sa.Column('connector', sa.String(length=64), nullable=False),
        sa.Column('nonce', sa.String(length=64), nullable=False),
        sa.Column('seen_at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('connector', 'nonce'),
    )
    with op.batch_alter_table('callback_nonces', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_callback_nonces_seen_at'), ['seen_at'], unique=False)

    with op.batch_alter_table('assignments', schema=None) as batch_op:
        batch_op.add_column(sa.Column('dispatch_key', sa.String(length=40), nullable=True))
        batch_op.add_column(
            sa.Column('attempts', sa.Integer(), nullable=False, server_default='0')
        )
        batch_op.add_column(sa.Column('last_error', sa.Text(), nullable=True))
        batch_op.add_column(
            sa.Column('next_attempt_at', sa.DateTime(timezone=True), nullable=True)
        )
        batch_op.create_index(
            'ix_assignments_connector_external_id', ['connector', 'external_id'], unique=False
        )

    with op.batch_alter_table('work_orders', schema=None) as batch_op:
        batch_op.add_column(sa.Column('triage_queue', sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column('supervision', sa.JSON().with_variant(
            postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=True))
        batch_op.create_index(batch_op.f('ix_work_orders_triage_queue'), ['triage_queue'],
                              unique=False)
        batch_op.create_index(batch_op.f('ix_work_orders_parent_wo_no'), ['parent_wo_no'],
                              unique=False)
        batch_op.create_index(batch_op.f('ix_work_orders_duplicate_of'), ['duplicate_of'],
                              unique=False)


def downgrade() -> None:
    with op.batch_alter_table('work_orders', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_work_orders_duplicate_of'))
        batch_op.drop_index(batch_op.f('ix_work_orders_parent_wo_no'))
        batch_op.drop_index(batch_op.f('ix_work_orders_triage_queue'))
        batch_op.drop_column('supervision')
        batch_op.drop_column('triage_queue')

    with op.batch_alter_table('assignments', schema=None) as batch_op:
        batch_op.drop_index('ix_assignments_connector_external_id')
        batch_op.drop_column('next_attempt_at')
        batch_op.drop_column('last_error')
        batch_op.drop_column('attempts')
        batch_op.drop_column('dispatch_key')

    with op.batch_alter_table('callback_nonces', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_callback_nonces_seen_at'))

    op.drop_table('callback_nonces')
