"""`flask tokens ...`: the API's bearer tokens."""
import click
from flask import current_app
from flask.cli import AppGroup

from app.auth import create_token, reissue_token
from app.extensions import db
from app.logs import escape
from app.models.token import ROLES, ApiToken

tokens = AppGroup("tokens", help="API bearer tokens.")


@tokens.command("create")
@click.option("--name", required=True,
              help="Who or what the token is for: unique, 1-64 of A-Z a-z 0-9 _ . @ + -")
@click.option("--role", type=click.Choice(ROLES), default="viewer", show_default=True)
def tokens_create(name, role):
    """Create a token and print it (it is stored hashed and cannot be shown again)."""
    try:
        click.echo(create_token(name, role))
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None


@tokens.command("list")
def tokens_list():
    """List tokens (never their values)."""
    for t in db.session.execute(db.select(ApiToken).order_by(ApiToken.id)).scalars():
        # escape(): a name stored before names were checked stays on its one line.
        click.echo(f"{t.id}\t{t.role}\t{'revoked' if t.revoked else 'active'}\t{escape(t.name)}")


@tokens.command("revoke")
@click.argument("token_id", type=int)
def tokens_revoke(token_id):
    """Revoke a token by id."""
    t = db.session.get(ApiToken, token_id)
    if t is None:
        raise click.ClickException(f"no token {token_id}")
    t.revoked = True
    db.session.commit()
    click.echo(f"revoked {token_id}")


@tokens.command("bootstrap")
def tokens_bootstrap():
    """Print an admin token for this `make run` (the previous one stops working)."""
    if current_app.config.get("FSCTI_ADMIN_TOKEN"):
        click.echo("Admin token: the value of FSCTI_ADMIN_TOKEN")
        return
    token = reissue_token("make-run", "admin")
    click.echo(f"Admin token (Authorization: Bearer ...): {token}")

