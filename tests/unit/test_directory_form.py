"""Parsing mod_xml_curl's raw body: only the needed fields, FreeSWITCH's encoding and order."""
import json
from pathlib import Path

import pytest

from app.directory.form import INVALID_USER, encode, fs_urlencode, parse

FIXTURE = Path(__file__).parent.parent / "fixtures" / "freeswitch" / "xml_curl_requests.jsonl"


def fixture_requests():
    return [json.loads(line) for line in FIXTURE.read_text().splitlines() if line.strip()]


def test_fs_urlencode_matches_freeswitch_rules():
    assert fs_urlencode("a b+c") == "a%20b%2Bc"
    assert fs_urlencode("sip:1001@127.0.0.1;x") == "sip%3A1001%40127.0.0.1%3Bx"
    assert fs_urlencode("Thu, 26 Nov") == "Thu,%2026%20Nov"
    assert fs_urlencode("é") == "%C3%A9"
    assert fs_urlencode("SIPp-lab/3.7.7") == "SIPp-lab/3.7.7"


@pytest.mark.parametrize("req", fixture_requests(), ids=lambda r: f"{r['fields'].get('action', '-')}-{r['fields']['user']}")
def test_every_fixture_request_parses(req):
    f = req["fields"]
    q = parse(encode(f.items()))
    assert q.section == "directory"
    assert q.domain == f["domain"] == "127.0.0.1"
    assert q.user == f["user"]
    assert q.by_alias is False
    assert q.purpose == ""


def test_last_user_domain_key_win_over_caller_controlled_fields():
    # user_call: originate {vars} come before key/user/domain (facts §1.1)
    pairs = [("hostname", "vm"), ("section", "directory"), ("tag_name", "domain"), ("key_name", "name"),
             ("key_value", "example.com"), ("Event-Name", "REQUEST_PARAMS"), ("as_channel", "true"),
             ("action", "user_call"), ("user", "9999"), ("domain", "evil.example"), ("key", "number-alias"),
             ("section", "configuration"), ("key", "id"), ("user", "1002"), ("domain", "example.com")]
    q = parse(encode(pairs))
    assert (q.section, q.user, q.domain, q.by_alias) == ("directory", "1002", "example.com", False)


def test_message_count_retry_with_repeated_keys():
    pairs = [("hostname", "vm"), ("section", "directory"), ("tag_name", "domain"), ("key_name", "name"),
             ("key_value", "example.com"), ("Event-Name", "GENERAL"), ("action", "message-count"),
             ("key", "id"), ("user", "5001"), ("domain", "example.com"),
             ("key", "number-alias"), ("user", "5001"), ("domain", "example.com")]
    q = parse(encode(pairs))
    assert q.by_alias and q.user == "5001" and q.domain == "example.com"


def test_raw_leading_key_value_with_ampersand_cannot_inject_a_user():
    body = (b"hostname=vm&section=directory&tag_name=domain&key_name=name"
            b"&key_value=x&user=1001&domain=evil&Event-Name=REQUEST_PARAMS&action=sip_auth"
            b"&key=id&user=nobody&domain=example.com&ip=1.2.3.4")
    q = parse(body)
    assert q.user == "nobody" and q.domain == "example.com"


def test_plus_is_not_a_space_and_percent_is_decoded():
    body = b"section=directory&key_value=example.com&key=id&user=%2B15551234&domain=example.com"
    assert parse(body).user == "+15551234"
    assert parse(b"section=directory&user=+15551234&domain=example.com").user == "+15551234"


def test_domain_lookup_without_user_and_purpose():
    q = parse(b"hostname=vm&section=directory&tag_name=&key_name=&key_value=&Event-Name=REQUEST_PARAMS"
              b"&purpose=gateways&profile=internal")
    assert q.user == "" and q.purpose == "gateways" and q.domain == ""
    q = parse(b"hostname=vm&section=directory&tag_name=domain&key_name=name&key_value=example.com"
              b"&Event-Name=REQUEST_PARAMS")
    assert q.user == "" and q.domain == "example.com" and q.purpose == ""


def test_invalid_names_are_flagged():
    q = parse(b"section=directory&key=id&user=a%0Ab&domain=example.com")
    assert q.user == INVALID_USER
    q = parse(b"section=directory&key=id&user=1001&domain=exa%20mple.com")
    assert q.domain == ""
    q = parse(b"section=dialplan&key=id&user=1001&domain=example.com")
    assert q.section == "dialplan"


def test_empty_body():
    q = parse(b"")
    assert q == ("", "", "", False, "")
