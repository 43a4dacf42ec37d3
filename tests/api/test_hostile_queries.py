"""Never a 500: every GET route under /api/v1, with hostile query strings.

The routes come from the app's own url_map (a new GET route is covered without editing this
file); path variables get plausible values for rows that exist. Each hostile query must end
in a status below 500, and every error in the one JSON shape {"error", "message", "details"}.
"""
from urllib.parse import quote

import pytest

from tests.eslpeer import EslPeer
from tests.support.actions import A5, call5_up, use_nodes
from tests.support.factories import mk_domain, mk_ext, mk_template

# Plausible values for every path variable of the API (a new variable fails loudly below).
PATH_VALUES = {"domain": "example.com", "ext": "1001", "name": "agents", "uuid": A5,
               "action_id": "00000000-0000-4000-8000-000000000000",
               "supervision_id": "00000000-0000-4000-8000-000000000000"}

# Every query field some GET schema reads, plus url_for's own keywords and the path names.
QUERY_NAMES = ["page", "per_page", "q", "template", "enabled", "include_secrets", "format",
               "actor", "what", "target", "node", "result", "since", "until", "domain",
               "extension", "limit", "mode", "ext", "name", "uuid", "action_id",
               "supervision_id", "endpoint", "values", "_method", "_external", "_anchor",
               "_scheme"]

HOSTILE_VALUES = ["", "0", "-1", "-99999999999999999999", "99999999999999999999999999",
                  "1e400", "nan", "inf", "true", "yes", "x" * 20000, "\x00", "a\x00b",
                  "名前", "\U0001F600", "%", "../../etc/passwd", "' OR 1=1 --", "%00",
                  "9999-12-31T23:59:59-14:00", "0001-01-01T00:00:00+14:00", "2026-02-30",
                  "2026-13-01T00:00:00Z",
                  "javascript:alert(1)", "https://evil.example", "\r\nX-Injected: 1"]

# Whole raw query strings: duplicates, url_for keywords, broken encodings, many keys.
RAW_QUERIES = [
    "page=1&page=2&per_page=1&per_page=1000",
    "q=a&q=b&q=c",
    "endpoint=x", "_method=POST", "_external=1", "_anchor=top", "_scheme=javascript",
    "domain=x", "ext=x", "name=x", "uuid=x", "domain=x&ext=y&name=z&uuid=w",
    "endpoint=x&_method=x&_external=1&_anchor=x&_scheme=x&values=x",
    "page=0", "page=-1", "per_page=0", "per_page=-5", "per_page=100000",
    "page=10000000&per_page=1000", "page=10000001",
    "%FF%FE=%FF%FE", "q=%FF%FE%FD", "%00=%00", "%=%", "==", "&&&", "a=b=c", "q",
    "q=" + "x" * 100000, "k" * 10000 + "=1",
    "&".join(f"k{i}=v{i}" for i in range(2000)),
]


def _queries():
    for raw in RAW_QUERIES:
        yield raw
    for name in QUERY_NAMES:
        for value in HOSTILE_VALUES:
            yield f"{quote(name)}={quote(value, safe='')}"


def _get_routes(app):
    routes = []
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/api/v1/") or "GET" not in rule.methods:
            continue
        missing = set(rule.arguments) - set(PATH_VALUES)
        assert not missing, f"{rule.rule}: add a plausible value for {missing} to PATH_VALUES"
        path = rule.rule
        for arg in rule.arguments:
            path = path.replace(f"<{arg}>", PATH_VALUES[arg])
        routes.append(path)
    return sorted(routes)


@pytest.fixture
def world(client, admin, rdb, settings, monkeypatch):
    """Rows behind every path value: a domain, a template, an extension, a live call, a node."""
    mk_domain(client, admin)
    mk_template(client, admin, "agents", param={"password": "tpl"})
    mk_ext(client, admin, "1001", template="agents")
    with EslPeer() as peer:
        use_nodes(monkeypatch, settings, fs1=peer)
        call5_up(rdb, settings, "fs1")
        yield peer


def check(r, url):
    assert r.status_code < 500, (url[:300], r.status_code, r.get_data()[:300])
    if r.status_code >= 400:
        body = r.get_json(silent=True)
        assert isinstance(body, dict), (url[:300], r.get_data()[:300])
        assert set(body) == {"error", "message", "details"}, (url[:300], body)
        assert isinstance(body["error"], str) and isinstance(body["message"], str)
        assert isinstance(body["details"], dict)


def test_the_walk_covers_every_get_route(app):
    routes = _get_routes(app)
    # the paged lists, the reads and the state views are all in the walk
    for must in ("/api/v1/domains", "/api/v1/audit", "/api/v1/domains/example.com/extensions",
                 "/api/v1/templates", "/api/v1/calls", "/api/v1/time",
                 f"/api/v1/calls/{A5}", "/api/v1/domains/example.com/extensions/1001"):
        assert must in routes
    assert len(routes) >= 13


@pytest.mark.timeout(1200)    # every GET route × every hostile query: ~100 s on a busy machine
def test_every_get_route_survives_hostile_query_strings(app, client, admin, world):
    for path in _get_routes(app):
        for query in _queries():
            url = f"{path}?{query}"
            check(client.get(url, headers=admin), url)


def test_paged_lists_with_clashing_keys_answer_200_with_clean_links(client, admin, world):
    """Query keys that clash with a path parameter or url_for's own arguments: 200, and links
    that carry only the validated filters."""
    for url in ("/api/v1/domains/example.com/extensions?domain=x",
                "/api/v1/audit?endpoint=x", "/api/v1/domains?_method=x",
                "/api/v1/templates?_external=1&_anchor=a&_scheme=javascript&name=z"):
        r = client.get(url, headers=admin)
        assert r.status_code == 200, (url, r.get_json())
        links = r.get_json()["links"]
        for link in links.values():
            assert link is None or ("domain=" not in link and "endpoint" not in link
                                    and "_method" not in link and "_external" not in link
                                    and "javascript" not in link and link.startswith("/api/v1/"))
    r = client.get("/api/v1/domains/example.com/extensions?q=10&enabled=true&template=agents"
                   "&per_page=1&junk=1", headers=admin)
    assert r.status_code == 200
    assert r.get_json()["links"]["self"] == ("/api/v1/domains/example.com/extensions?q=10&"
                                             "template=agents&enabled=true&page=1&per_page=1")


def test_control_characters_in_a_filter_are_a_422_naming_it(client, admin, world):
    """PostgreSQL text cannot hold NUL: refused for every database, before any query."""
    for url, name in (("/api/v1/audit?actor=a%00b", "actor"), ("/api/v1/domains?q=%00", "q"),
                      ("/api/v1/templates?q=a%0Ab", "q"), ("/api/v1/calls?node=%00", "node"),
                      ("/api/v1/time?node=fs%001", "node")):
        r = client.get(url, headers=admin)
        assert r.status_code == 422, (url, r.get_json())
        assert name in r.get_json()["details"]
