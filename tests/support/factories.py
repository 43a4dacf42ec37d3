"""Rows for tests: domains, templates, extensions and API tokens, one way each.

Two kinds, for the two kinds of test:
- SQL rows (inside an app context), for tests of the mirror, the directory and the workers,
  which build their data under the API:

      d = domain("example.com")
      tpl = template("agents", variable={"user_context": "default"})
      extension(d, "1001", template=tpl, password="1234", alias="5001")
      commit(rebuild=True)                  # SQL committed, the Redis mirror rebuilt from it

- the same through the HTTP API (a test client and headers), for API tests: mk_domain,
  mk_template, mk_ext; each asserts the 201 and returns the created resource's JSON.

token(role) creates an API token and returns its Authorization header.
"""
from __future__ import annotations

from app.extensions import db
from app.models import Domain, Extension, Template

DIAL_STRING = "x"      # a domain's dial-string where the test does not read it


# -- SQL rows ------------------------------------------------------------------------------------

def domain(name: str = "example.com", *, realm: str | None = None, param: dict | None = None,
           variable: dict | None = None, **kw) -> Domain:
    """A Domain row (added and flushed); param defaults to a dial-string only."""
    row = Domain(name=name, realm=realm or name,
                 param={"dial-string": DIAL_STRING} if param is None else param,
                 variable={} if variable is None else variable, **kw)
    db.session.add(row)
    db.session.flush()
    return row


def template(name: str = "t", *, param: dict | None = None, variable: dict | None = None,
             attribute: dict | None = None, **kw) -> Template:
    """A Template row (added and flushed); param defaults to allow-empty-password false."""
    row = Template(name=name, param={"allow-empty-password": False} if param is None else param,
                   variable={} if variable is None else variable,
                   attribute={} if attribute is None else attribute, **kw)
    db.session.add(row)
    db.session.flush()
    return row


def extension(dom: Domain, name: str, *, password: str | None = None, alias: str | None = None,
              param: dict | None = None, attribute: dict | None = None, **kw) -> Extension:
    """An Extension row of `dom` (added, not flushed: add many, then commit).

    password goes into param["password"]; alias is the number-alias, set both as the
    attribute and as the indexed column, as the API does.
    """
    param = dict(param or {})
    if password is not None:
        param["password"] = password
    attribute = dict(attribute or {})
    if alias is not None:
        attribute["number-alias"] = alias
        kw.setdefault("number_alias", alias)
    row = Extension(domain=dom, name=name, param=param, attribute=attribute, **kw)
    db.session.add(row)
    return row


def commit(rebuild: bool = False) -> None:
    """Commit the session; with rebuild, then rebuild the whole Redis mirror from SQL."""
    db.session.commit()
    if rebuild:
        from app.mirror.rebuild import rebuild_all

        rebuild_all()


# -- API tokens ----------------------------------------------------------------------------------

def bearer(secret: str) -> dict:
    """The Authorization header for a token."""
    return {"Authorization": f"Bearer {secret}"}


def token(role: str = "admin", name: str | None = None) -> dict:
    """Create an API token with `role` (inside an app context); its Authorization header."""
    from app.auth import create_token

    return bearer(create_token(name or f"test-{role}", role))


# -- through the HTTP API --------------------------------------------------------------------------

def mk_domain(client, headers, name="example.com", **body):
    """POST /api/v1/domains; the created domain."""
    r = client.post("/api/v1/domains", json={"name": name, **body}, headers=headers)
    assert r.status_code == 201, r.json
    return r.json


def mk_template(client, headers, name="agents", **body):
    """POST /api/v1/templates; the created template."""
    r = client.post("/api/v1/templates", json={"name": name, **body}, headers=headers)
    assert r.status_code == 201, r.json
    return r.json


def mk_ext(client, headers, name="1001", domain="example.com", **body):
    """POST /api/v1/domains/<domain>/extensions; the created extension."""
    r = client.post(f"/api/v1/domains/{domain}/extensions", json={"name": name, **body},
                    headers=headers)
    assert r.status_code == 201, r.json
    return r.json
