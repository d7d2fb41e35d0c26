"""review queue, audit log, console (issue 14)

Cases, their evidence, decisions and appeals, user reports, per-tenant review policies, the
hash-chained audit log with its heads, signed checkpoints and public keys, console sessions.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-03 15:50:29.698043
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('audit_checkpoints',
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('chain', sa.String(length=40), nullable=False),
    sa.Column('seq', sa.BigInteger(), nullable=False),
    sa.Column('hash', sa.String(length=64), nullable=False),
    sa.Column('kind', sa.String(length=12), nullable=False),
    sa.Column('at_us', sa.BigInteger(), nullable=False),
    sa.Column('key_id', sa.String(length=64), nullable=False),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('signature', sa.String(length=200), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('audit_checkpoints', schema=None) as batch_op:
        batch_op.create_index('ix_audit_checkpoints_chain', ['chain', 'seq'], unique=False)

    op.create_table('audit_heads',
    sa.Column('chain', sa.String(length=40), nullable=False),
    sa.Column('seq', sa.BigInteger(), nullable=False),
    sa.Column('hash', sa.String(length=64), nullable=False),
    sa.Column('first_seq', sa.BigInteger(), server_default='1', nullable=False),
    sa.Column('updated_us', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('chain')
    )
    op.create_table('audit_keys',
    sa.Column('key_id', sa.String(length=64), nullable=False),
    sa.Column('public_pem', sa.Text(), nullable=False),
    sa.Column('created_at', sa.Double(), nullable=False),
    sa.PrimaryKeyConstraint('key_id')
    )
    op.create_table('audit_log',
    sa.Column('chain', sa.String(length=40), nullable=False),
    sa.Column('seq', sa.BigInteger(), autoincrement=False, nullable=False),
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('at_us', sa.BigInteger(), nullable=False),
    sa.Column('tenant_id', sa.String(length=40), nullable=True),
    sa.Column('actor', sa.String(length=80), nullable=False),
    sa.Column('action', sa.String(length=60), nullable=False),
    sa.Column('object_type', sa.String(length=30), nullable=False),
    sa.Column('object_id', sa.String(length=80), nullable=False),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('prev_hash', sa.String(length=64), nullable=False),
    sa.Column('hash', sa.String(length=64), nullable=False),
    sa.PrimaryKeyConstraint('chain', 'seq'),
    sa.UniqueConstraint('id')
    )
    with op.batch_alter_table('audit_log', schema=None) as batch_op:
        batch_op.create_index('ix_audit_chain_at', ['chain', 'at_us'], unique=False)
        batch_op.create_index('ix_audit_object', ['object_id'], unique=False)

    op.create_table('console_sessions',
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('csrf', sa.String(length=64), nullable=False),
    sa.Column('key_id', sa.String(length=40), nullable=False),
    sa.Column('tenant_id', sa.String(length=40), nullable=False),
    sa.Column('role', sa.String(length=20), nullable=False),
    sa.Column('source_ip', sa.String(length=64), nullable=True),
    sa.Column('created_at', sa.Double(), nullable=False),
    sa.Column('last_seen_at', sa.Double(), nullable=False),
    sa.Column('expires_at', sa.Double(), nullable=False),
    sa.Column('ended_at', sa.Double(), nullable=True),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('token_hash')
    )
    op.create_table('cases',
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('tenant_id', sa.String(length=40), nullable=False),
    sa.Column('state', sa.String(length=20), nullable=False),
    sa.Column('priority', sa.String(length=20), nullable=False),
    sa.Column('source', sa.String(length=20), nullable=False),
    sa.Column('reasons', sa.Text(), server_default='[]', nullable=False),
    sa.Column('policy_version', sa.String(length=100), nullable=False),
    sa.Column('policy_digest', sa.String(length=64), nullable=False),
    sa.Column('join_key', sa.String(length=200), nullable=True),
    sa.Column('scan_id', sa.String(length=40), nullable=True),
    sa.Column('sha256', sa.String(length=64), nullable=True),
    sa.Column('kind', sa.String(length=10), nullable=True),
    sa.Column('external_id', sa.String(length=200), nullable=True),
    sa.Column('title', sa.String(length=300), server_default='', nullable=False),
    sa.Column('verdict', sa.String(length=20), nullable=True),
    sa.Column('score', sa.Double(), nullable=True),
    sa.Column('assignee', sa.String(length=40), nullable=True),
    sa.Column('round', sa.Integer(), server_default='1', nullable=False),
    sa.Column('decision', sa.String(length=20), nullable=True),
    sa.Column('reason_code', sa.String(length=60), nullable=True),
    sa.Column('pending', sa.Text(), nullable=True),
    sa.Column('report_count', sa.Integer(), server_default='0', nullable=False),
    sa.Column('legal_hold', sa.Boolean(), server_default=sa.false(), nullable=False),
    sa.Column('hold_reason', sa.Text(), nullable=True),
    sa.Column('opened_at', sa.Double(), nullable=False),
    sa.Column('due_at', sa.Double(), nullable=False),
    sa.Column('assigned_at', sa.Double(), nullable=True),
    sa.Column('first_decided_at', sa.Double(), nullable=True),
    sa.Column('decided_at', sa.Double(), nullable=True),
    sa.Column('appealed_at', sa.Double(), nullable=True),
    sa.Column('closed_at', sa.Double(), nullable=True),
    sa.Column('overdue_notified', sa.Boolean(), server_default=sa.false(), nullable=False),
    sa.Column('updated_at', sa.Double(), nullable=False),
    sa.Column('version', sa.Integer(), server_default='1', nullable=False),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('cases', schema=None) as batch_op:
        batch_op.create_index('ix_cases_join', ['tenant_id', 'join_key', 'state'], unique=False)
        batch_op.create_index('ix_cases_overdue', ['overdue_notified', 'due_at'], unique=False)
        batch_op.create_index('ix_cases_scan', ['tenant_id', 'scan_id'], unique=False)
        batch_op.create_index('ix_cases_state_decided', ['state', 'decided_at'], unique=False)
        batch_op.create_index('ix_cases_tenant_due', ['tenant_id', 'due_at', 'id'], unique=False)
        batch_op.create_index('ix_cases_tenant_id', ['tenant_id', 'id'], unique=False)
        batch_op.create_index('ix_cases_tenant_state', ['tenant_id', 'state', 'id'], unique=False)

    op.create_table('review_policies',
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('tenant_id', sa.String(length=40), nullable=False),
    sa.Column('revision', sa.Integer(), nullable=False),
    sa.Column('version', sa.String(length=100), nullable=False),
    sa.Column('digest', sa.String(length=64), nullable=False),
    sa.Column('text', sa.Text(), nullable=False),
    sa.Column('created_at', sa.Double(), nullable=False),
    sa.Column('created_by', sa.String(length=80), nullable=False),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('tenant_id', 'revision', name='uq_review_policies_revision')
    )
    op.create_table('user_reports',
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('tenant_id', sa.String(length=40), nullable=False),
    sa.Column('case_id', sa.String(length=40), nullable=True),
    sa.Column('reason', sa.String(length=60), nullable=False),
    sa.Column('text', sa.Text(), server_default='', nullable=False),
    sa.Column('reporter', sa.String(length=200), nullable=True),
    sa.Column('scan_id', sa.String(length=40), nullable=True),
    sa.Column('sha256', sa.String(length=64), nullable=True),
    sa.Column('external_id', sa.String(length=200), nullable=True),
    sa.Column('url', sa.Text(), nullable=True),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('outcome', sa.String(length=20), nullable=True),
    sa.Column('actor', sa.String(length=40), nullable=False),
    sa.Column('created_at', sa.Double(), nullable=False),
    sa.Column('handled_at', sa.Double(), nullable=True),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('user_reports', schema=None) as batch_op:
        batch_op.create_index('ix_user_reports_case', ['case_id'], unique=False)
        batch_op.create_index('ix_user_reports_tenant', ['tenant_id', 'id'], unique=False)

    op.create_table('case_appeals',
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('case_id', sa.String(length=40), nullable=False),
    sa.Column('text', sa.Text(), nullable=False),
    sa.Column('appellant', sa.String(length=200), nullable=True),
    sa.Column('actor', sa.String(length=40), nullable=False),
    sa.Column('at', sa.Double(), nullable=False),
    sa.ForeignKeyConstraint(['case_id'], ['cases.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('case_appeals', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_case_appeals_case_id'), ['case_id'], unique=False)

    op.create_table('case_decisions',
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('case_id', sa.String(length=40), nullable=False),
    sa.Column('round', sa.Integer(), nullable=False),
    sa.Column('action', sa.String(length=20), nullable=False),
    sa.Column('reason_code', sa.String(length=60), nullable=False),
    sa.Column('note', sa.Text(), server_default='', nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('actor', sa.String(length=40), nullable=False),
    sa.Column('actor_role', sa.String(length=20), nullable=True),
    sa.Column('second_actor', sa.String(length=40), nullable=True),
    sa.Column('at', sa.Double(), nullable=False),
    sa.Column('confirmed_at', sa.Double(), nullable=True),
    sa.Column('policy_version', sa.String(length=100), nullable=False),
    sa.Column('label_state', sa.String(length=20), nullable=True),
    sa.Column('label_result', sa.Text(), nullable=True),
    sa.ForeignKeyConstraint(['case_id'], ['cases.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('case_decisions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_case_decisions_case_id'), ['case_id'], unique=False)

    op.create_table('case_evidence',
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('case_id', sa.String(length=40), nullable=False),
    sa.Column('kind', sa.String(length=30), nullable=False),
    sa.Column('scan_id', sa.String(length=40), nullable=True),
    sa.Column('sha256', sa.String(length=64), nullable=True),
    sa.Column('content_type', sa.String(length=100), nullable=True),
    sa.Column('filename', sa.String(length=300), server_default='', nullable=False),
    sa.Column('size', sa.BigInteger(), nullable=True),
    sa.Column('meta', sa.Text(), server_default='{}', nullable=False),
    sa.Column('added_at', sa.Double(), nullable=False),
    sa.ForeignKeyConstraint(['case_id'], ['cases.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('case_evidence', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_case_evidence_case_id'), ['case_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('case_evidence', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_case_evidence_case_id'))

    op.drop_table('case_evidence')
    with op.batch_alter_table('case_decisions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_case_decisions_case_id'))

    op.drop_table('case_decisions')
    with op.batch_alter_table('case_appeals', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_case_appeals_case_id'))

    op.drop_table('case_appeals')
    with op.batch_alter_table('user_reports', schema=None) as batch_op:
        batch_op.drop_index('ix_user_reports_tenant')
        batch_op.drop_index('ix_user_reports_case')

    op.drop_table('user_reports')
    op.drop_table('review_policies')
    with op.batch_alter_table('cases', schema=None) as batch_op:
        batch_op.drop_index('ix_cases_tenant_state')
        batch_op.drop_index('ix_cases_tenant_id')
        batch_op.drop_index('ix_cases_tenant_due')
        batch_op.drop_index('ix_cases_state_decided')
        batch_op.drop_index('ix_cases_scan')
        batch_op.drop_index('ix_cases_overdue')
        batch_op.drop_index('ix_cases_join')

    op.drop_table('cases')
    op.drop_table('console_sessions')
    with op.batch_alter_table('audit_log', schema=None) as batch_op:
        batch_op.drop_index('ix_audit_object')
        batch_op.drop_index('ix_audit_chain_at')

    op.drop_table('audit_log')
    op.drop_table('audit_keys')
    op.drop_table('audit_heads')
    with op.batch_alter_table('audit_checkpoints', schema=None) as batch_op:
        batch_op.drop_index('ix_audit_checkpoints_chain')

    op.drop_table('audit_checkpoints')
