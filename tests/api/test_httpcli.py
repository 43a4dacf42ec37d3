"""/cli, the mod_cti httpcli-compatible gateway, against the wire-level peer.

SPEC §5's requests work unchanged; each is rebuilt from validated parts (the peer sees the
exact command); everything else is refused before any byte reaches the event socket.
"""
from urllib.parse import urlencode

import pytest

from app.config import Settings
from app.extensions import db
from app.models import AuditEntry
from app.services.httpcli import key_id
from tests.eslpeer import EslPeer
from tests.support.actions import A5, B5, call5_up, lines, use_nodes, wire

KEY = "abc"
T = "17583c94-c7fd-4ccc-9410-abfaf69e2e88"
T2 = "1851bbde-08f5-4d42-8b5c-5250fab4172f"
T3 = "156fd768-67b1-49c7-9a4b-bc9ef658912a"

# SPEC §5 (from mod_cti's document), sent unchanged; `cti_originate` becomes `originate`.
SPEC_BGAPI = [
    (f"cti_originate user/121 &eavesdrop({T})", f"originate user/121 &eavesdrop({T})"),
    (f"cti_originate user/121 set:eavesdrop_enable_dtmf=true,eavesdrop:{T2} inline",
     f"originate user/121 set:eavesdrop_enable_dtmf=true,eavesdrop:{T2} inline"),
    (f"cti_originate user/121 set:eavesdrop_whisper_aleg=true,eavesdrop:{T2} inline",
     f"originate user/121 set:eavesdrop_whisper_aleg=true,eavesdrop:{T2} inline"),
    (f"cti_originate user/121 three_way:{T3} inline", f"originate user/121 three_way:{T3} inline"),
    # the forms of the capture (api_outputs.txt) and with a domain
    (f"originate user/1003 &three_way({T})", f"originate user/1003 &three_way({T})"),
    (f"originate {{eavesdrop_whisper_aleg=true}}user/1003 &eavesdrop({T})",
     f"originate {{eavesdrop_whisper_aleg=true}}user/1003 &eavesdrop({T})"),
    (f"cti_originate user/121@pbx.example.com &eavesdrop({T})",
     f"originate user/121@pbx.example.com &eavesdrop({T})"),
]


@pytest.fixture
def fs1(monkeypatch, settings, app):
    monkeypatch.setattr(settings, "cli_keys", [KEY, "second-key"])
    with EslPeer() as peer:
        use_nodes(monkeypatch, settings, fs1=peer)
        yield peer


def cli(client, method="GET", **params):
    params.setdefault("key", KEY)
    if method == "POST":
        return client.post("/cli", data=params)
    return client.get("/cli?" + urlencode(params))


def audit_rows():
    return db.session.execute(db.select(AuditEntry).order_by(AuditEntry.id)).scalars().all()


def test_cti_timestamp(client, fs1, app_ctx):
    fs1.api.set("strmicroepoch", "1795670529686854")
    r = cli(client, cmd="cti_timestamp")
    assert r.status_code == 200 and r.data == b"1795670529686854"
    assert r.mimetype == "text/plain"
    assert lines(fs1) == ["api strmicroepoch"]
    [row] = audit_rows()
    assert (row.actor, row.what, row.node) == (key_id(KEY), "cli:cti_timestamp", "fs1")
    assert row.result == "replied: 1795670529686854" and row.detail["ip"] == "127.0.0.1"


@pytest.mark.parametrize("arg, sent", SPEC_BGAPI)
def test_spec_bgapi_requests_work_unchanged(client, fs1, app_ctx, arg, sent):
    r = cli(client, cmd="bgapi", arg=arg)
    assert r.status_code == 200, r.data
    [packet] = wire(fs1)
    assert packet.command == f"bgapi {sent}"
    assert r.data.decode() == f"+OK Job-UUID: {packet.headers['Job-UUID']}"
    [row] = audit_rows()
    assert row.what == "cli:bgapi" and row.detail["command"] == f"bgapi {sent}"
    assert row.detail["job_uuid"] == packet.headers["Job-UUID"] and row.target in (T, T2, T3)


def test_uuid_kill_replies_are_freeswitchs_text(client, fs1, app_ctx):
    fs1.channels.add(A5)
    r = cli(client, cmd="uuid_kill", arg=A5)
    assert r.status_code == 200 and r.data == b"+OK\n"
    r = cli(client, cmd="uuid_kill", arg=A5)
    assert r.status_code == 200 and r.data == b"-ERR No such channel!\n"
    r = cli(client, "POST", cmd="uuid_kill", arg=f"{B5} user_busy")
    assert r.data == b"-ERR No such channel!\n"
    assert lines(fs1) == [f"api uuid_kill {A5}", f"api uuid_kill {A5}",
                          f"api uuid_kill {B5} USER_BUSY"]
    assert [r.result for r in audit_rows()] == ["replied: +OK"] + ["replied: -ERR No such channel!"] * 2


def test_read_only_show_and_status(client, fs1, app_ctx):
    r = cli(client, cmd="show", arg="calls as json")
    assert r.status_code == 200 and r.data.startswith(b'{"row_count":')
    r = cli(client, cmd="status")
    assert r.status_code == 200 and r.data.startswith(b"UP ")
    r = cli(client, cmd="bgapi", arg="status")
    assert r.data.startswith(b"+OK Job-UUID: ")
    assert lines(fs1) == ["api show calls as json", "api status", "bgapi status"]


def test_post_form_works_like_get(client, fs1, app_ctx):
    r = cli(client, "POST", cmd="bgapi", arg=f"cti_originate user/121 &eavesdrop({T})")
    assert r.status_code == 200
    assert lines(fs1) == [f"bgapi originate user/121 &eavesdrop({T})"]


# --- keys -----------------------------------------------------------------------------------

def test_keys(client, fs1, app_ctx, monkeypatch, settings):
    assert cli(client, cmd="status", key="second-key").status_code == 200
    for bad in ("", "abd", "ab", "abc ", "ABC"):
        r = cli(client, cmd="status", key=bad)
        assert r.status_code == 401 and r.data.startswith(b"-ERR fscti: ")
    monkeypatch.setattr(settings, "cli_keys", [])
    r = cli(client, cmd="status")
    assert r.status_code == 403 and b"disabled" in r.data
    assert lines(fs1) == ["api status"]
    # Unauthenticated requests are logged, not written to SQL.
    assert len(audit_rows()) == 1


def test_keys_from_the_environment_or_the_file(tmp_path):
    cfg = tmp_path / "cti.json"
    cfg.write_text('{"cli": {"keys": ["key-one-1", "key-two-2"], "commands": ["cti_timestamp"]}}')
    s = Settings.load(env={"FSCTI_CONFIG": str(cfg)})
    assert s.cli_keys == ["key-one-1", "key-two-2"] and s.cli_commands == ["cti_timestamp"]
    s = Settings.load(env={"FSCTI_CONFIG": str(cfg), "FSCTI_CLI_KEYS": " env-key-1 , env-key-2,"})
    assert s.cli_keys == ["env-key-1", "env-key-2"]


# --- the allowlist --------------------------------------------------------------------------

@pytest.mark.parametrize("cmd, arg", [
    ("api", "status"), ("reloadxml", ""), ("originate", f"user/121 &eavesdrop({T})"),
    ("cti_originate", f"user/121 &eavesdrop({T})"), ("system", "id"), ("bgapi", "system id"),
    ("bgapi", "uuid_bridge a b"), ("bgapi", "reloadxml"), ("sendevent", "CUSTOM"), ("log", "7"),
    ("bgapi", "api status"),
])
def test_commands_outside_the_allowlist_are_403(client, fs1, app_ctx, cmd, arg):
    r = cli(client, cmd=cmd, arg=arg)
    assert r.status_code in (400, 403), r.data
    assert r.data.startswith(b"-ERR fscti: ")
    assert fs1.commands() == []
    [row] = audit_rows()
    assert row.result.startswith(("rejected: 403", "rejected: 400"))


def test_the_allowlist_is_configurable(client, fs1, app_ctx, monkeypatch, settings):
    monkeypatch.setattr(settings, "cli_commands", ["cti_timestamp", "bgapi", "api", "reloadxml"])
    r = cli(client, cmd="uuid_kill", arg=A5)
    assert r.status_code == 403 and b"not allowed" in r.data
    r = cli(client, cmd="bgapi", arg=f"uuid_kill {A5}")
    assert r.status_code == 403 and b"'uuid_kill' is not allowed" in r.data
    r = cli(client, cmd="reloadxml")
    assert r.status_code == 403 and b"not supported by the gateway" in r.data
    r = cli(client, cmd="api", arg=f"cti_originate user/121 &eavesdrop({T})")
    assert r.status_code == 403 and b"only through bgapi" in r.data
    assert fs1.commands() == []
    assert cli(client, cmd="api", arg="cti_timestamp").status_code == 200
    assert lines(fs1) == ["api strmicroepoch"]


# --- injection ------------------------------------------------------------------------------

CRLF_NUL = [
    f"{A5}\n\napi system id", f"{A5}\r\n\r\nbgapi system id", f"{A5}\nContent-Length: 9",
    f"{A5}\rX", f"{A5}\x00 system", f"cti_originate user/121 &eavesdrop({T})\n\nlog 7",
]


@pytest.mark.parametrize("arg", CRLF_NUL)
def test_cr_lf_nul_in_arg_is_400(client, fs1, app_ctx, arg):
    for cmd in ("uuid_kill", "bgapi"):
        r = cli(client, cmd=cmd, arg=arg)
        assert r.status_code == 400 and b"CR, LF or NUL" in r.data
    assert fs1.commands() == []
    assert all(r.result.startswith("rejected: 400") for r in audit_rows())


HOSTILE_BGAPI = [
    f"cti_originate user/121 &eavesdrop({T}) XML default",            # extra argv
    f"cti_originate user/121 &eavesdrop({T});system id",
    "cti_originate user/121 &system(id)",
    "cti_originate user/121 &eavesdrop(${system(id)})",
    f"cti_originate user/121 &eavesdrop({T}),hangup",
    f"cti_originate {{execute_on_answer=system}}user/121 &eavesdrop({T})",
    f"cti_originate {{eavesdrop_enable_dtmf=${{system(id)}}}}user/121 &eavesdrop({T})",
    f"cti_originate {{origination_uuid=x}}user/121 &eavesdrop({T})",
    f"cti_originate user/121,user/122 &eavesdrop({T})",
    f"cti_originate user/121|sofia/gw/x &eavesdrop({T})",
    f"cti_originate [a=b]user/121 &eavesdrop({T})",
    f"cti_originate sofia/internal/121@h &eavesdrop({T})",
    f"cti_originate user/12 1 &eavesdrop({T})",
    f"cti_originate user/121@a\tb &eavesdrop({T})",
    f"cti_originate user/${{x}} &eavesdrop({T})",
    f"cti_originate user/121 set:eavesdrop_enable_dtmf=true,system:id,eavesdrop:{T} inline",
    f"cti_originate user/121 set:api_on_answer=system,eavesdrop:{T} inline",
    f"cti_originate user/121 set:eavesdrop_whisper_aleg=${{x}},eavesdrop:{T} inline",
    f"cti_originate user/121 eavesdrop:{T},hangup inline",
    f"cti_originate user/121 m:^:eavesdrop:{T} inline",
    f"cti_originate user/121 bridge:{T} inline",
    f"cti_originate user/121 eavesdrop:{T} XML",
    f"cti_originate user/121 eavesdrop:{T} inline default",
    "cti_originate user/121 &eavesdrop(all)",
    f"uuid_kill {A5} NOT_A_CAUSE", f"uuid_kill {A5} NORMAL_CLEARING extra", "uuid_kill all",
    f"uuid_kill {A5.upper()}", "show calls;status", "show calls as delim |", "status now",
    "cti_timestamp x", "",
]


@pytest.mark.parametrize("arg", HOSTILE_BGAPI)
def test_hostile_bgapi_args_never_reach_the_socket(client, fs1, app_ctx, arg):
    r = cli(client, cmd="bgapi", arg=arg)
    assert r.status_code in (400, 403), r.data
    assert r.data.startswith(b"-ERR fscti: ")
    assert fs1.commands() == []
    [row] = audit_rows()
    assert row.what == "cli:bgapi" and row.result.startswith("rejected: ")


@pytest.mark.parametrize("cmd, arg", [
    ("uuid_kill", "not-a-uuid"), ("uuid_kill", f"{A5} {B5}"), ("uuid_kill", ""),
    ("uuid_kill", f"{A5};api system id"), ("show", ""), ("show", "calls count as json x"),
    ("cti_timestamp", "1"), ("status", "x"), ("", "x"),
])
def test_bad_args_of_direct_commands_are_400(client, fs1, app_ctx, cmd, arg):
    r = cli(client, cmd=cmd, arg=arg)
    assert r.status_code == 400, r.data
    assert fs1.commands() == []


def test_a_hostile_node_parameter_is_refused(client, fs1, app_ctx):
    r = cli(client, cmd="status", node="fs1\n\napi system id")
    assert r.status_code == 400
    # a node that is not configured is unknown, like any name: 404
    r = cli(client, cmd="status", node="fs9")
    assert r.status_code == 404 and r.data == b"-ERR fscti: unknown node 'fs9'\n"
    assert fs1.commands() == []


# --- routing --------------------------------------------------------------------------------

def test_routing_by_the_calls_node_then_node_param_then_first(client, app_ctx, rdb, settings,
                                                              monkeypatch):
    monkeypatch.setattr(settings, "cli_keys", [KEY])
    with EslPeer() as fs1, EslPeer() as fs2:
        use_nodes(monkeypatch, settings, fs1=fs1, fs2=fs2)
        call5_up(rdb, settings, "fs2")
        fs2.channels.add(A5)
        assert cli(client, cmd="uuid_kill", arg=A5).data == b"+OK\n"
        assert cli(client, cmd="bgapi", arg=f"cti_originate user/121 &eavesdrop({B5})").status_code == 200
        assert lines(fs2) == [f"api uuid_kill {A5}", f"bgapi originate user/121 &eavesdrop({B5})"]
        assert lines(fs1) == []
        cli(client, cmd="uuid_kill", arg=T)                   # not in the state: the first node
        cli(client, cmd="uuid_kill", arg=B5, node="fs1")      # node= wins
        cli(client, cmd="status", node="fs2")
        assert lines(fs1) == [f"api uuid_kill {T}", f"api uuid_kill {B5}"]
        assert lines(fs2)[2:] == ["api status"]
        assert [r.node for r in audit_rows()] == ["fs2", "fs2", "fs1", "fs1", "fs2"]


def test_an_unreachable_node_is_503(client, app_ctx, monkeypatch, settings):
    monkeypatch.setattr(settings, "cli_keys", [KEY])
    peer = EslPeer().start()
    use_nodes(monkeypatch, settings, fs1=peer)
    peer.stop()
    r = cli(client, cmd="uuid_kill", arg=A5)
    assert r.status_code == 503 and r.data.startswith(b"-ERR fscti: FreeSWITCH node fs1 is unavailable")
    r = cli(client, cmd="cti_timestamp")
    assert r.status_code == 503
    assert [r.result[:11] for r in audit_rows()] == ["failed: 503"] * 2
