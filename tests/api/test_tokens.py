"""API tokens: printable unique names, `flask tokens ...`, the Bearer scheme in any case."""
import dataclasses

import flask_migrate
import pytest
import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from app import create_app
from app.auth import create_token
from app.extensions import db
from app.models import ApiToken

BAD_NAMES = ["", "ops\nadmin", "ops\r", "tab\tname", "nul\x00", "with space", "-leading",
             "x" * 65, "quote\"", "é", "bidi\u202e"]


@pytest.mark.parametrize("name", BAD_NAMES)
def test_names_that_could_break_a_listing_or_a_log_line_are_refused(app_ctx, name):
    with pytest.raises(ValueError, match="a token name is 1-64 characters"):
        create_token(name, "viewer")
    assert db.session.execute(sa.select(ApiToken)).first() is None


def test_good_names(app_ctx):
    for name in ("ops", "grafana-ro", "alice@example.com", "ci_2.0+x", "x" * 64):
        assert create_token(name, "viewer").startswith("fscti_")


def test_names_are_unique_revoked_tokens_included(app_ctx, client):
    create_token("ops", "admin")
    with pytest.raises(ValueError, match="a token named 'ops' exists"):
        create_token("ops", "viewer")
    db.session.execute(sa.update(ApiToken).values(revoked=True))
    db.session.commit()
    with pytest.raises(ValueError, match="exists"):
        create_token("ops", "viewer")
    # the schema refuses it too (two processes racing)
    db.session.add(ApiToken(name="ops", role="viewer", token_hash="0" * 64))
    with pytest.raises(IntegrityError):
        db.session.commit()
    db.session.rollback()


def test_the_cli_refuses_a_bad_or_taken_name_and_lists_one_line_per_token(app):
    runner = app.test_cli_runner()
    assert runner.invoke(args=["tokens", "create", "--name", "ops", "--role", "admin"]).exit_code == 0
    r = runner.invoke(args=["tokens", "create", "--name", "ops"])
    assert r.exit_code == 1 and "a token named 'ops' exists" in r.output
    r = runner.invoke(args=["tokens", "create", "--name", "a\n1\tadmin\tactive\tforged"])
    assert r.exit_code == 1 and "a token name is 1-64 characters" in r.output
    with app.app_context():  # a name stored before names were checked
        db.session.add(ApiToken(name="old\nname", role="viewer", token_hash="1" * 64))
        db.session.commit()
    lines = runner.invoke(args=["tokens", "list"]).output.splitlines()
    assert [line.split("\t")[1:] for line in lines] == [["admin", "active", "ops"],
                                                       ["viewer", "active", "old\\x0aname"]]


def _token_from(output: str) -> str:
    return output.strip().rpartition(" ")[2]


def test_bootstrap_reissues_make_run_keeping_its_name_unique(settings, app, client):
    # the session app has FSCTI_ADMIN_TOKEN (then bootstrap prints that); this one has none
    plain = create_app(dataclasses.replace(settings, admin_token=""), TESTING=True)
    try:
        runner = plain.test_cli_runner()
        first = _token_from(runner.invoke(args=["tokens", "bootstrap"]).output)
        second = _token_from(runner.invoke(args=["tokens", "bootstrap"]).output)
    finally:
        app.extensions["celery"].set_current()
        app.extensions["celery"].set_default()
    assert first != second and first.startswith("fscti_")
    assert client.get("/api/v1/domains", headers={"Authorization": f"Bearer {first}"}
                      ).status_code == 401
    assert client.get("/api/v1/domains", headers={"Authorization": f"Bearer {second}"}
                      ).status_code == 200
    with app.app_context():
        rows = db.session.execute(sa.select(ApiToken.name, ApiToken.role, ApiToken.revoked)).all()
    assert rows == [("make-run", "admin", False)]


@pytest.mark.parametrize("scheme", ["Bearer", "bearer", "BEARER", "bEaReR"])
def test_the_bearer_scheme_is_case_insensitive(client, tokens, scheme):
    token = tokens["viewer"]["Authorization"].partition(" ")[2]
    for header in (f"{scheme} {token}", f"  {scheme}   {token}  "):
        r = client.get("/api/v1/domains", headers={"Authorization": header})
        assert r.status_code == 200, header


# --- migration 0003 on a database that has duplicates --------------------------------------

def test_the_migration_renames_duplicates_deterministically(settings, app, tmp_path):
    old = create_app(dataclasses.replace(settings, database_url=f"sqlite:///{tmp_path / 'o.db'}"),
                     TESTING=True)
    rows = [(1, "make-run", True), (2, "ops"), (3, "make-run", True), (4, "make-run"),
            (5, "ops-2"), (6, "ops"), (7, "x" * 128), (8, "x" * 128)]
    try:
        with old.app_context():
            flask_migrate.upgrade(revision="0001")
            stamp = sa.text("INSERT INTO api_token (id, name, role, token_hash, revoked, "
                            "created_at, updated_at) VALUES (:id, :name, 'admin', :hash, "
                            ":revoked, '2026-01-01', '2026-01-01')")
            with db.engine.begin() as conn:
                for token_id, name, *revoked in rows:
                    conn.execute(stamp, {"id": token_id, "name": name, "hash": f"{token_id:064}",
                                         "revoked": bool(revoked)})
            flask_migrate.upgrade(revision="0003")
            with db.engine.begin() as conn:
                names = dict(conn.execute(sa.text("SELECT id, name FROM api_token")).all())
            db.engine.dispose()
    finally:
        app.extensions["celery"].set_current()
        app.extensions["celery"].set_default()
    # the newest of each name keeps it; "ops-2" was taken, so id 2 gets one suffix more
    assert names == {1: "make-run-1", 2: "ops-2-2", 3: "make-run-3", 4: "make-run", 5: "ops-2",
                     6: "ops", 7: "x" * 126 + "-7", 8: "x" * 128}
