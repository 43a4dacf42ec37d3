"""Directory XML: escaping that survives FreeSWITCH's preprocessor, parsed with lxml."""
import re

from hypothesis import given, settings
from hypothesis import strategies as st
from lxml import etree

from app.directory import xml

HOSTILE = ['<>&"\'$', "$${hostname}", "a\nb\r\nc\td", "<?xml version='1.0'?>", "<!--#set x=y-->",
           '<X-PRE-PROCESS cmd="exec" data="rm -rf /"/>', "x-PRE-process", "</include><include>",
           "]]>", "&#36;", "&amp;", "${sofia_contact(*/1001@dom)}", "caf\u00e9 \u4e2d\u6587", ""]

# XML 1.0 cannot carry these; xml.esc drops them.
_INVALID = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def preprocessor_safe(doc: bytes) -> None:
    """What FreeSWITCH's preprocessor would act on (facts §1.2, switch_xml.c:1483-1605)."""
    text = doc.decode()
    for line in text.split("\n"):
        assert "<?" not in line
        assert "<include>" not in line and "</include>" not in line
        assert "x-pre-process" not in line.lower()
        assert "$" not in line
        assert "<!--#" not in line


def parse(doc: bytes):
    return etree.fromstring(doc, etree.XMLParser(resolve_entities=False, no_network=True))


def test_escape_turns_every_special_character_into_a_reference():
    assert xml.esc('<a href="x">&\'$</a>') == "&lt;a href=&quot;x&quot;&gt;&amp;&#39;&#36;&lt;/a&gt;"
    assert xml.esc("line1\nline2\r\tz") == "line1&#10;line2&#13;&#9;z"
    assert xml.esc("X-Pre-Process") == "X&#45;Pre-Process"
    assert xml.esc("ab\x00c\x1fd") == "abcd"
    assert xml.esc("plain-1001") == "plain-1001"


def test_text_of_json_values():
    assert xml.text_of(True) == "true" and xml.text_of(False) == "false"
    assert xml.text_of(60000) == "60000" and xml.text_of("x") == "x"
    assert xml.text_of(None) is None
    assert xml.text_of({"a": 1}) == '{"a":1}'


def _doc(name, eff, domain="example.com", dparam=None):
    head = xml.domain_open(domain, {"param": dparam or {}, "variable": {}})
    return xml.document(head, name, eff)


def test_hostile_values_round_trip_through_lxml():
    eff = {"param": {f"p{i}": v for i, v in enumerate(HOSTILE)},
           "variable": {f"v{i}": v for i, v in enumerate(HOSTILE)},
           "attribute": {"cacheable": "<&>$", "number-alias": "\"'"}}
    doc = _doc("1001", eff, dparam={"dial-string": "${sofia_contact(*/${dialed_user}@${dialed_domain})}"})
    preprocessor_safe(doc)
    root = parse(doc)
    user = root.find("section/domain/users/user")
    assert user.get("id") == "1001"
    assert user.get("cacheable") == "<&>$" and user.get("number-alias") == "\"'"
    params = {p.get("name"): p.get("value") for p in user.iterfind("params/param")}
    assert params == {f"p{i}": v for i, v in enumerate(HOSTILE)}
    variables = {p.get("name"): p.get("value") for p in user.iterfind("variables/variable")}
    assert variables == {f"v{i}": v for i, v in enumerate(HOSTILE)}
    dial = root.find("section/domain/params/param").get("value")
    assert dial == "${sofia_contact(*/${dialed_user}@${dialed_domain})}"


def test_no_xml_declaration_and_one_line():
    doc = _doc("1001", {"param": {"password": "x"}})
    assert not doc.startswith(b"<?") and doc.count(b"\n") == 1 and doc.endswith(b"\n")


def test_ip_type_id_and_unsafe_attribute_names_are_never_emitted():
    eff = {"attribute": {"ip": "10.0.0.1", "type": "pointer", "id": "other", "domain-name": "x",
                         'bad" onload="x': "1", "cacheable": "1000"}}
    doc = _doc("1001", eff)
    user = parse(doc).find("section/domain/users/user")
    assert dict(user.attrib) == {"id": "1001", "cacheable": "1000"}
    user_tag = doc[doc.index(b"<user "):doc.index(b">", doc.index(b"<user "))]
    assert b" ip=" not in user_tag and b" type=" not in user_tag


def test_not_found_document():
    root = parse(xml.NOT_FOUND)
    assert root.find("section").get("name") == "result"
    assert root.find("section/result").get("status") == "not found"


def test_domain_without_user_has_no_users_element():
    head = xml.domain_open("Example.COM", {"param": {"dial-string": "x"}, "variable": {"a": "b"}})
    root = parse(xml.document(head))
    dom = root.find("section/domain")
    assert dom.get("name") == "Example.COM"
    assert dom.find("users") is None and dom.find("user") is None
    assert dom.find("variables/variable").get("value") == "b"


@settings(max_examples=300, deadline=None)
@given(name=st.text(min_size=1, max_size=20), value=st.text(max_size=60),
       attr=st.text(max_size=30))
def test_any_text_parses_and_round_trips(name, value, attr):
    doc = _doc("u1", {"param": {name: value}, "variable": {"v": value}, "attribute": {"cacheable": attr}})
    preprocessor_safe(doc)
    user = parse(doc).find("section/domain/users/user")

    def clean(s):  # what XML can carry: no C0 controls; lone surrogates become '?'
        return _INVALID.sub("", s).encode("utf-8", "replace").decode()

    p = user.find("params/param")
    assert p.get("name") == clean(name) and p.get("value") == clean(value)
    assert user.find("variables/variable").get("value") == clean(value)
    if attr:
        assert user.get("cacheable") == clean(attr)


def test_domain_heads_cache_renders_once_per_entry():
    heads = xml.DomainHeads()
    a = heads.get("d.example", '{"realm":"d","param":{"x":"1"},"variable":{}}')
    assert heads.get("d.example", '{"realm":"d","param":{"x":"1"},"variable":{}}') is a
    b = heads.get("d.example", '{"realm":"d","param":{"x":"2"},"variable":{}}')
    assert b != a and heads.known("d.example") == b and heads.known("other") is None
