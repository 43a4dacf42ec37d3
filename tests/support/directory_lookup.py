"""The /directory endpoint for API tests: the capture's domain (fixture `d`), a POST of form
pairs, and the parsed answer.

    root = ask(client, "1001")                 # sip_auth for 1001@127.0.0.1
    assert [u.get("id") for u in users(root)] == ["1001"]
"""
import pytest
from lxml import etree

from app.directory.form import encode
from app.extensions import db
from app.mirror.repairs import repairs
from app.models import Extension
from app.models.domain import DEFAULT_DIAL_STRING
from tests.support.net import HeldPort
from tests.support.factories import commit, domain, extension, template

BASE = [("hostname", "vm"), ("section", "directory"), ("tag_name", "domain"), ("key_name", "name"),
        ("key_value", "127.0.0.1"), ("Event-Name", "REQUEST_PARAMS")]


@pytest.fixture
def d(app_ctx):
    """Domain 127.0.0.1 with users 1001-1003 (password 1234) as in the capture, mirrored."""
    repairs.forget()
    app_ctx.extensions.pop("fscti-directory", None)
    from app.directory.clients import for_app

    for_app(app_ctx).reader.reset()  # no answer cached by an earlier test (its cache dies with it)
    dom = domain("127.0.0.1", param={"dial-string": DEFAULT_DIAL_STRING},
                 variable={"default_gateway": "gw"})
    tpl = template("default", variable={"user_context": "default"},
                   attribute={"cacheable": "60000"})
    for n in ("1001", "1002", "1003"):
        extension(dom, n, template=tpl, password="1234", alias="5" + n[1:])
    commit(rebuild=True)
    yield dom
    app_ctx.extensions.pop("fscti-directory", None)


def add_ext(dom, name, mirror=True, **kw):
    """One more extension of `dom`, committed, and mirrored unless mirror=False."""
    ext = Extension(domain=dom, name=name, **kw)
    db.session.add(ext)
    db.session.commit()
    if mirror:
        from app.mirror.write import mirror_extensions

        mirror_extensions([ext])
    return ext


def post(client, pairs, **kw):
    """POST /directory with form pairs, as mod_xml_curl sends them."""
    return client.post("/directory", data=encode(pairs),
                       content_type="application/x-www-form-urlencoded", **kw)


def parsed(resp):
    """The answer's XML root (asserting a 200 text/xml answer without an XML declaration)."""
    assert resp.status_code == 200, resp.data
    assert resp.mimetype == "text/xml"
    assert not resp.data.startswith(b"<?")
    return etree.fromstring(resp.data)


def users(root):
    return root.findall("section/domain/users/user")


def ask(client, user, *extra, key="id", domain="127.0.0.1", action="sip_auth"):
    """The parsed answer to one user lookup."""
    pairs = BASE + ([("action", action)] if action else []) + list(extra) + [
        ("key", key), ("user", user), ("domain", domain)]
    return parsed(post(client, pairs))


def is_not_found(root):
    return root.find("section").get("name") == "result" and \
        root.find("section/result").get("status") == "not found"


@pytest.fixture
def dead_url():
    """A Redis URL that refuses every connection (a port held, never listening) for the test."""
    with HeldPort() as dead:
        yield dead.url()


def dead_reader(url):
    """Point the hot path's Redis client at `url`, where nothing answers."""
    from app.directory.hotconn import HotConnection
    from app.directory.lookup import directory

    dirx = directory()
    dirx.reader = HotConnection(url, 0.25)
    return dirx
