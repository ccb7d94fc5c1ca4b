"""service matter catalogue with versions

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-27 01:30:36.692142
"""

from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('service_matter_versions',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('implementation_code', sa.String(length=24), nullable=False),
    sa.Column('version_no', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('content_hash', sa.String(length=64), nullable=False),
    sa.Column('data', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('changed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('valid_from', sa.DateTime(timezone=True), nullable=False),
    sa.Column('valid_to', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_service_matter_versions')),
    sa.UniqueConstraint('implementation_code', 'version_no', name=op.f('uq_service_matter_versions_implementation_code_version_no'))
    )
    op.create_table('service_matters',
    sa.Column('implementation_code', sa.String(length=24), nullable=False),
    sa.Column('basic_code', sa.String(length=10), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('matter_type', sa.String(length=2), nullable=False),
    sa.Column('use_level', sa.String(length=1), nullable=False),
    sa.Column('unit_code', sa.String(length=32), nullable=True),
    sa.Column('unit_name', sa.String(length=200), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('version_no', sa.Integer(), nullable=False),
    sa.Column('content_hash', sa.String(length=64), nullable=False),
    sa.Column('data', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('source', sa.String(length=64), nullable=False),
    sa.Column('changed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('implementation_code', name=op.f('pk_service_matters'))
    )
    with op.batch_alter_table('service_matters', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_service_matters_basic_code'), ['basic_code'], unique=False)
        batch_op.create_index(batch_op.f('ix_service_matters_status'), ['status'], unique=False)
        batch_op.create_index(batch_op.f('ix_service_matters_unit_code'), ['unit_code'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('service_matters', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_service_matters_unit_code'))
        batch_op.drop_index(batch_op.f('ix_service_matters_status'))
        batch_op.drop_index(batch_op.f('ix_service_matters_basic_code'))

    op.drop_table('service_matters')
    op.drop_table('service_matter_versions')
