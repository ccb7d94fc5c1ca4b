"""source hotline of a work order

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-27 02:09:33.528905
"""

from alembic import op
import sqlalchemy as sa


revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('work_orders', schema=None) as batch_op:
        batch_op.add_column(sa.Column('source_hotline', sa.String(length=8), nullable=True))



def downgrade() -> None:
    with op.batch_alter_table('work_orders', schema=None) as batch_op:
        batch_op.drop_column('source_hotline')

