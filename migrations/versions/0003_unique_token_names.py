"""api_token.name is unique

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-27 09:00:00

The audit names a token by its name (`token:<name>`), so two tokens with one name made the
actor ambiguous. Existing duplicates are renamed first, deterministically: in each group the
newest token (highest id) keeps the name (for `make-run`, the one `flask tokens bootstrap`
issued last), every older one becomes `<name>-<id>` (cut to fit 128 characters; `-<n>`
appended again in the unlikely case that name is taken too).
"""
from collections import defaultdict

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None

NAME_MAX = 128
_token = sa.table("api_token", sa.column("id", sa.Integer), sa.column("name", sa.String))


def _renamed(name: str, token_id: int, taken: set) -> str:
    suffix, n = f"-{token_id}", 1
    while True:
        candidate = name[:NAME_MAX - len(suffix)] + suffix
        if candidate not in taken:
            return candidate
        n += 1
        suffix = f"-{token_id}-{n}"


def upgrade():
    conn = op.get_bind()
    rows = conn.execute(sa.select(_token.c.id, _token.c.name).order_by(_token.c.id)).all()
    taken = {name for _, name in rows}
    ids_by_name = defaultdict(list)
    for token_id, name in rows:
        ids_by_name[name].append(token_id)
    for name, ids in ids_by_name.items():
        for token_id in ids[:-1]:
            new = _renamed(name, token_id, taken)
            taken.add(new)
            conn.execute(_token.update().where(_token.c.id == token_id).values(name=new))
    with op.batch_alter_table('api_token', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_api_token_name'), ['name'], unique=True)


def downgrade():
    # The renamed tokens keep their new names.
    with op.batch_alter_table('api_token', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_api_token_name'))
