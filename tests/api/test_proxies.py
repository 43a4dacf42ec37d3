"""`web.trusted_proxies`: which client, scheme and host the app sees behind reverse proxies.

An app is built per setting (create_app, as gunicorn does); the test client's peer is
127.0.0.1, as a proxy on the same host. /directory's allowlist is the default one (loopback
and private networks); `/_seen` (added here) shows what a view reads from `request`.
"""
import dataclasses

import pytest
from flask import Flask, jsonify, request

from app import create_app
from app.directory.wsgi import DirectoryDispatch
from app.proxies import UNKNOWN_CLIENT
from tests.support.directory_lookup import BASE, post

PUBLIC, PRIVATE = "203.0.113.9", "10.0.0.5"


@pytest.fixture
def app_with(settings, app):
    """create_app(settings with web.trusted_proxies = hops), with a `/_seen` view."""
    def build(hops: int) -> Flask:
        built = create_app(dataclasses.replace(settings, trusted_proxies=hops), TESTING=True)

        @built.get("/_seen")
        def _seen():
            return jsonify(addr=request.remote_addr, scheme=request.scheme, host=request.host)

        return built
    yield build
    app.extensions["celery"].set_current()      # the session app's Celery again
    app.extensions["celery"].set_default()


def seen(client, **headers):
    return client.get("/_seen", headers=headers).json


def directory(client, chain: str) -> int:
    return post(client, BASE, headers={"X-Forwarded-For": chain}).status_code


HOSTILE = {"X-Forwarded-For": PUBLIC, "X-Forwarded-Proto": "https",
           "X-Forwarded-Host": "evil.example"}


def test_by_default_no_forwarded_header_counts_and_nothing_wraps_the_app(app_with):
    built = app_with(0)
    # only /directory's dispatch (app.directory.wsgi) in front of Flask's own: no proxy fix
    assert isinstance(built.wsgi_app, DirectoryDispatch)
    assert built.wsgi_app.wsgi_app == built.__class__.wsgi_app.__get__(built)
    client = built.test_client()
    assert seen(client, **HOSTILE) == {"addr": "127.0.0.1", "scheme": "http", "host": "localhost"}
    assert directory(client, PUBLIC) == 200


def test_one_proxy_its_client_scheme_and_host_are_believed(app_with):
    client = app_with(1).test_client()
    assert seen(client, **HOSTILE) == {"addr": PUBLIC, "scheme": "https", "host": "evil.example"}
    assert directory(client, PUBLIC) == 403
    assert directory(client, PRIVATE) == 200
    # the client's own X-Forwarded-For comes first; the proxy appends what it saw
    assert directory(client, f"{PRIVATE}, {PUBLIC}") == 403
    assert directory(client, f"{PUBLIC}, {PRIVATE}") == 200
    assert seen(client, **{"X-Forwarded-For": f"{PRIVATE}, {PUBLIC}"})["addr"] == PUBLIC
    # no header: the request did not come through the proxy; the peer is the client
    assert seen(client)["addr"] == "127.0.0.1"


@pytest.mark.parametrize("chain", ['", 203.0.113.9', '"10.0.0.5, 203.0.113.9',
                                   'x, "10.0.0.5', '"a", "b" , 203.0.113.9'])
def test_quotes_sent_by_the_client_cannot_hide_the_proxys_value(app_with, chain):
    # werkzeug's ProxyFix reads quoted strings, and with an unclosed quote it keeps the
    # proxy's own 127.0.0.1: which the allowlist admits
    client = app_with(1).test_client()
    assert seen(client, **{"X-Forwarded-For": chain})["addr"] == chain.rpartition(",")[2].strip()
    assert directory(client, chain) == 403


@pytest.mark.parametrize("chain", ["", " ", PUBLIC])
def test_a_chain_shorter_than_the_proxies_is_an_unknown_client(app_with, chain):
    client = app_with(2).test_client()
    assert seen(client, **{"X-Forwarded-For": chain})["addr"] == UNKNOWN_CLIENT
    assert directory(client, chain) == 403
    assert seen(client, **{"X-Forwarded-For": f"{PUBLIC}, {PRIVATE}"})["addr"] == PUBLIC
