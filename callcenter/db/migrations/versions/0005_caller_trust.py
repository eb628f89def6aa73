"""incident.caller_trust: how far the caller's number could be verified at the edge

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-06
"""
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op


revision: str = '0005'
down_revision: str | None = '0004'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Incidents stored before the edge said anything were all alerted at once: "local" keeps them so.
    with op.batch_alter_table('incident', schema=None) as batch_op:
        batch_op.add_column(sa.Column('caller_trust', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False,
                                      server_default='local'))


def downgrade() -> None:
    with op.batch_alter_table('incident', schema=None) as batch_op:
        batch_op.drop_column('caller_trust')
