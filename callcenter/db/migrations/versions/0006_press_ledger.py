"""press_ledger: press limits and source bans that survive a restart

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-06
"""
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = '0006'
down_revision: str | None = '0005'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        'press_ledger',
        sa.Column('kind', sqlmodel.sql.sqltypes.AutoString(length=8), nullable=False),
        sa.Column('key', sqlmodel.sql.sqltypes.AutoString(length=80), nullable=False),
        sa.Column('data', sa.JSON(), nullable=False),
        sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('kind', 'key'),
    )
    with op.batch_alter_table('press_ledger', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_press_ledger_updated_at'), ['updated_at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('press_ledger', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_press_ledger_updated_at'))
    op.drop_table('press_ledger')
