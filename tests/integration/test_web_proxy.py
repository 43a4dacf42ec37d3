"""`web.trusted_proxies` through the real `web` process (gunicorn, Procfile line).

The requests come from 127.0.0.1, as from a reverse proxy on the same host. With 0 (the
default) no X-Forwarded-* header counts, gunicorn's own trust of 127.0.0.1 included: the
client is 127.0.0.1 and the scheme http. With 1, the address the proxy appended is the client
that /directory's allowlist judges, and the scheme is the proxy's. The access log appends the
scheme (`%({wsgi.url_scheme}e)s`) to show what the app saw.
"""
import pytest

from tests.support.web import procfile_web

pytestmark = pytest.mark.integration     # the Procfile's web process (gunicorn)

KEY = "s3cret-gateway-key-0042"
LOOKUP = "/directory?section=directory&tag_name=domain&key_name=name&key_value=127.0.0.1"


def _server(settings, tmp_path_factory, hops: int):
    return procfile_web(settings, tmp_path_factory.mktemp(f"proxy{hops}"),
                        {"FSCTI_CLI_KEYS": KEY, "FSCTI_TRUSTED_PROXIES": str(hops)},
                        log_atoms="%({wsgi.url_scheme}e)s")


@pytest.fixture(scope="module")
def direct(settings, app, tmp_path_factory):
    with _server(settings, tmp_path_factory, 0) as server:
        yield server


@pytest.fixture(scope="module")
def proxied(settings, app, tmp_path_factory):
    with _server(settings, tmp_path_factory, 1) as server:
        yield server


def forwarded(web, client_chain: str, proto: str = "https") -> int:
    return web.get(LOOKUP, {"X-Forwarded-For": client_chain, "X-Forwarded-Proto": proto})


def test_with_no_trusted_proxy_forwarded_headers_are_ignored(direct):
    assert forwarded(direct, "203.0.113.9") == 200  # judged as 127.0.0.1: allowed
    text = direct.wait_for_log('"GET /directory HTTP/1.1" 200')
    [line] = [x for x in text.splitlines() if '"GET /directory' in x]
    assert line.startswith("127.0.0.1 - - [") and line.endswith("ms http")


def test_with_one_trusted_proxy_the_allowlist_judges_the_forwarded_client(proxied):
    assert forwarded(proxied, "203.0.113.9") == 403
    # a client that sends its own X-Forwarded-For: the proxy appends the real address
    assert forwarded(proxied, "10.0.0.5, 203.0.113.9") == 403
    assert forwarded(proxied, "203.0.113.9, 10.0.0.5") == 200
    # `"` would make werkzeug's list parser drop the whole header, leaving 127.0.0.1
    assert forwarded(proxied, '", 203.0.113.9') == 403
    text = proxied.wait_for_log('"GET /directory HTTP/1.1"', count=4)
    lines = [x for x in text.splitlines() if '"GET /directory' in x]
    assert [x.split(" ")[0] for x in lines] == ["203.0.113.9", "203.0.113.9", "10.0.0.5",
                                                "203.0.113.9"]
    assert all(x.endswith("ms https") for x in lines)
    assert text.count("directory: refused 203.0.113.9 (not in directory.allow)") == 3


def test_a_forwarded_address_is_escaped_in_every_log_line(proxied):
    # header text as the proxy passed it on: quotes and a C1 control (NEL) in the address
    hostile = '"\x85FORGED 2026-11-27 10:00:00 INFO x: y'
    assert forwarded(proxied, hostile) == 403
    assert proxied.get("/cli?key=wrong-key-123&cmd=status",
                       {"X-Forwarded-For": hostile}) == 401
    text = proxied.wait_for_log("/cli: invalid key from")
    text = proxied.wait_for_log('"GET /cli HTTP/1.1" 401')
    escaped = "\\x22\\x85FORGED 2026-11-27 10:00:00 INFO x: y"
    assert f"directory: refused {escaped} (not in" in text
    assert f"/cli: invalid key from {escaped}\n" in text
    assert f'\n{escaped} - - [' in text  # the access log's %(h)s
    assert all(line.isprintable() for line in text.splitlines())
