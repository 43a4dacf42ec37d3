"""A real redis-server is stopped and restarted empty: registrations keep working from SQL, the
API's writes still succeed, and reconcile restores the mirror afterwards."""
import pytest
from lxml import etree

from app.directory.form import encode
from app.extensions import db
from app.mirror import write
from app.mirror.reconcile import reconcile
from app.models import Extension
from app.state import generation, keys
from tests.support.directory_cache import private_mirror
from tests.support.factories import commit, domain, extension
from tests.support.redis_server import heal_mirror, needs_redis_server

D = "stop.example"
pytestmark = [pytest.mark.integration, needs_redis_server]     # private redis-servers


@pytest.fixture
def private(app_ctx):
    with private_mirror(app_ctx) as srv:
        yield srv


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
    assert ask(client, "1004") == ["1004"]
    # Redis lost its data (no generation marker): no repair per lookup, the heal rebuilds.
    assert directory().stats["repairs"] == 0
    assert write.mirror_extensions([new]) == 0  # held back too: the heal carries it
    assert fresh.hlen(keys.exten(D)) == 0
    # ... and that write claimed the heal (and queued it: no worker runs here)
    assert generation.current(fresh)["state"] == "healing"
    assert heal_mirror(fresh)["claimed_here"] is False  # what the heal task does
    assert reconcile().total == 0
    assert sorted(fresh.hkeys(keys.exten(D))) == [b"1001", b"1004"]
    assert fresh.smembers(keys.disabled(D)) == {b"1002"}
    before = directory().stats["sql"]
    assert ask(client, "1004") == ["1004"]
    assert directory().stats["sql"] == before  # from Redis again
