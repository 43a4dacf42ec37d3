"""A real redis-server is stopped and restarted empty: registrations keep working from SQL, the
API's writes still succeed, and reconcile restores the mirror afterwards."""
import pytest
from lxml import etree

from app.directory import clients as directory_clients
from app.directory.form import encode
from app.directory.hotconn import HotConnection
from app.extensions import db
from app.mirror import write
from app.mirror import client as mirror_client
from app.mirror.client import make_client
from app.mirror.reconcile import reconcile
from app.mirror.repairs import repairs
from app.models import Extension
from app.state import keys
from tests.support.factories import commit, domain, extension
from tests.support.redis_server import RedisServer, needs_redis_server

D = "stop.example"
pytestmark = [pytest.mark.integration, needs_redis_server]     # private redis-servers


@pytest.fixture
def private(app_ctx):
    srv = RedisServer().start()
    clients, mirror = directory_clients.for_app(app_ctx), mirror_client.for_app(app_ctx)
    saved = clients.reader, mirror.writer
    clients.reader, mirror.writer = HotConnection(srv.url, 0.25), make_client(srv.url, 2.0)
    app_ctx.extensions.pop("fscti-directory", None)
    repairs.forget()
    yield srv
    clients.reader, mirror.writer = saved
    app_ctx.extensions.pop("fscti-directory", None)
    srv.close()


def ask(client, user):
    body = encode([("hostname", "vm"), ("section", "directory"), ("tag_name", "domain"),
                   ("key_name", "name"), ("key_value", D), ("Event-Name", "REQUEST_PARAMS"),
                   ("action", "sip_auth"), ("key", "id"), ("user", user), ("domain", D)])
    resp = client.post("/directory", data=body, content_type="application/x-www-form-urlencoded")
    assert resp.status_code == 200
    root = etree.fromstring(resp.data)
    assert root.find("section/domain").get("name") == D
    return [u.get("id") for u in root.findall("section/domain/users/user")]


def test_directory_survives_a_stopped_redis(private, client, app_ctx):
    from app.directory.lookup import directory

    d = domain(D)
    extension(d, "1001", password="a")
    extension(d, "1002", password="b", enabled=False)
    commit(rebuild=True)
    assert ask(client, "1001") == ["1001"]
    assert directory().stats == {"cache": 0, "redis": 1, "sql": 0, "redis_down": 0, "repairs": 0, "replica": 0}

    private.stop()
    assert ask(client, "1001") == ["1001"]  # an existing extension still registers
    assert ask(client, "1002") == []  # a disabled one still does not
    assert ask(client, "1003") == []
    assert directory().stats["sql"] == 3 and directory().stats["redis_down"] == 1

    # The API commits while Redis is down: the mirror write fails softly.
    new = Extension(domain=d, name="1004", param={"password": "c"})
    db.session.add(new)
    db.session.commit()
    assert write.mirror_extensions([new]) == 0
    assert ask(client, "1004") == ["1004"]  # SQL answers for it too

    fresh = private.start().client()  # back, but empty (as after a restart without persistence)
    directory().down_until = 0.0  # skip the breaker's pause instead of sleeping through it
    assert ask(client, "1001") == ["1001"]
    assert directory().stats["repairs"] == 1  # the domain is in SQL but not in Redis
    report = reconcile()
    assert report.drift["domain_missing"] == 1 and report.drift["missing"] == 3
    assert sorted(fresh.hkeys(keys.exten(D))) == [b"1001", b"1004"]
    assert fresh.smembers(keys.disabled(D)) == {b"1002"}
    before = directory().stats["sql"]
    assert ask(client, "1004") == ["1004"]
    assert directory().stats["sql"] == before  # from Redis again
