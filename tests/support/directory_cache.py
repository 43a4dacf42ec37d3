"""The /directory answer cache on a private redis-server: the `private` fixture (the app's
directory clients moved to a throwaway redis-server, the hot one caching), the `dom` fixture
(domain cache.example, mirrored there) and lookups that parse the answer.

A private server because other test runs share the machine's Redis, and their FLUSHDBs (of any
database) clear every tracking cache: counting hits there would be luck. Import the fixtures
into the test module (`from tests.support.directory_cache import dom, private`).
"""
import contextlib

import pytest
import redis as redis_lib
from lxml import etree

from app.directory import clients as directory_clients
from app.directory.form import encode
from app.directory.hotconn import HotConnection
from app.mirror import client as mirror_client
from app.mirror.client import make_client
from app.mirror.repairs import repairs
from tests.support.factories import commit, domain, extension, template
from tests.support.redis_server import RedisServer, stamp_generation

D = "cache.example"


@contextlib.contextmanager
def private_mirror(app_ctx, reader=None):
    """A private redis-server (holding its generation, as `flask mirror rebuild` leaves it) with
    the app's directory reader (`reader(url)`, default a hot connection) and mirror writer moved
    onto it for the block; both put back after it."""
    srv = RedisServer().start()
    stamp_generation(srv)
    clients, mirror = directory_clients.for_app(app_ctx), mirror_client.for_app(app_ctx)
    saved = clients.reader, mirror.writer
    clients.reader = (reader or (lambda url: HotConnection(url, 0.25)))(srv.url)
    mirror.writer = make_client(srv.url, 2.0)
    app_ctx.extensions.pop("fscti-directory", None)
    repairs.forget()
    try:
        yield srv
    finally:
        if hasattr(clients.reader, "reset"):
            clients.reader.reset()
        clients.reader, mirror.writer = saved
        app_ctx.extensions.pop("fscti-directory", None)
        srv.close()


@pytest.fixture
def private(app_ctx):
    """The app's directory clients on a private redis-server, the hot one with its cache on."""
    # max age far above any test's length: what these tests see is invalidation, never expiry
    with private_mirror(app_ctx, lambda url: HotConnection(url, 0.25, 4096, 60.0)) as srv:
        yield srv


@pytest.fixture
def dom(private, app_ctx):
    """Domain cache.example: 1001 (alias 5001) and 1003 on a template, 1002 disabled; mirrored."""
    d = domain(D, param={"dial-string": "ds-1"})
    tpl = template("tpl")
    extension(d, "1001", template=tpl, password="pw-0", alias="5001")
    extension(d, "1002", template=tpl, password="x", enabled=False)
    extension(d, "1003", template=tpl, password="y")
    commit(rebuild=True)
    return d


def answer_of(client, user, key="id", domain=D):
    """The parsed answer to one sip_auth lookup, or None for the not-found document."""
    body = encode([("hostname", "vm"), ("section", "directory"), ("tag_name", "domain"),
                   ("key_name", "name"), ("key_value", domain), ("Event-Name", "REQUEST_PARAMS"),
                   ("action", "sip_auth"), ("key", key), ("user", user), ("domain", domain)])
    resp = client.post("/directory", data=body, content_type="application/x-www-form-urlencoded")
    assert resp.status_code == 200
    root = etree.fromstring(resp.data)
    return None if root.find("section").get("name") == "result" else root


def ask(client, user, key="id", domain=D):
    """(user ids, {param: value} of the first user, domain params) of one lookup."""
    root = answer_of(client, user, key, domain)
    if root is None:
        return None
    users = root.findall("section/domain/users/user")
    params = {p.get("name"): p.get("value") for p in users[0].iterfind("params/param")} if users else {}
    dparams = {p.get("name"): p.get("value") for p in root.iterfind("section/domain/params/param")}
    return [u.get("id") for u in users], params, dparams


def evalsha_calls(srv) -> int:
    """EVALSHAs the private Redis ran: lookups that reached it, when no mirror script runs."""
    stats = redis_lib.Redis.from_url(srv.url).info("commandstats")
    return int((stats.get("cmdstat_evalsha") or {}).get("calls", 0))
