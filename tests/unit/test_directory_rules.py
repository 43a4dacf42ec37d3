"""Every directory value rule, through the schemas the API loads bodies with."""
import pytest
from marshmallow import ValidationError

from app.schemas.domain import DomainCreate
from app.schemas.extension import ExtensionCreate, ExtensionPatch
from app.schemas.section_rules import MASK, value_errors
from app.schemas.template import TemplateCreate


def errors_of(schema, body):
    with pytest.raises(ValidationError) as exc:
        schema.load(body)
    return exc.value.messages


def ext(**sections):
    return {"name": "1001", **sections}


GOOD_PARAMS = [
    ("password", "s3cret"), ("password", "ünïcødé pass"),
    ("a1-hash", "0123456789abcdef0123456789abcdef"),
    ("auth-acl", ""), ("auth-acl", "10.0.0.0/8"), ("auth-acl", "10.0.0.1, 192.168.1.0/24,::1"),
    ("auth-acl", "2001:db8::/32"),
    ("allow-empty-password", False), ("allow-empty-password", "true"), ("allow-empty-password", "FALSE"),
    ("sip-forbid-register", True), ("sip-forbid-register", "false"),
    ("user-agent-filter", "^Yealink"), ("user-agent-filter", "(Polycom|Snom).*"),
    ("max-registrations-per-extension", 1), ("max-registrations-per-extension", "3"),
    ("vm-password", "1234"), ("dial-string", "{x=y}${sofia_contact(*/1001@d)}"),
    ("sip-force-expires", 60), ("x.y_z-1", 1.5),
]


@pytest.mark.parametrize("name,value", GOOD_PARAMS)
def test_good_params_load(name, value):
    assert ExtensionCreate().load(ext(param={name: value}))["param"] == {name: value}


BAD_PARAMS = [
    ("password", 1234, "string"), ("password", "", "empty"), ("password", "x" * 129, "128"),
    ("a1-hash", "0123456789ABCDEF0123456789ABCDEF", "lowercase"), ("a1-hash", "abc", "32"),
    ("a1-hash", "0123456789abcdef0123456789abcdeg", "hex"),
    ("auth-acl", "10.0.0.0/33", "CIDR"), ("auth-acl", "10.0.0.1,,10.0.0.2", "CIDR"),
    ("auth-acl", "lan", "CIDR"), ("auth-acl", ["10.0.0.1"], "string"),
    ("allow-empty-password", "yes", "true or false"), ("allow-empty-password", 1, "true or false"),
    ("sip-forbid-register", "", "true or false"), ("sip-forbid-register", 0, "true or false"),
    ("user-agent-filter", "(unclosed", "regular expression"), ("user-agent-filter", 5, "regular"),
    ("max-registrations-per-extension", 0, "positive"), ("max-registrations-per-extension", -1, "positive"),
    ("max-registrations-per-extension", "two", "positive"), ("max-registrations-per-extension", True, "positive"),
    ("max-registrations-per-extension", 2**40, "positive"), ("max-registrations-per-extension", 1.5, "positive"),
    ("bad name", "x", "safe name"), ("1abc", "x", "safe name"), ("a$b", "x", "safe name"),
    ("ok", "a\x00b", "control"), ("ok", "a\nb", "control"), ("ok", "a\rb", "control"),
    ("ok", "<X-PRE-PROCESS cmd=\"exec\" data=\"id\"/>", "X-pre-process"),
    ("ok", "x-Pre-Process", "X-pre-process"), ("ok", {"nested": 1}, "string, number or boolean"),
    ("ok", [1], "string, number or boolean"), ("ok", float("nan"), "finite"),
    ("ok", float("inf"), "finite"), ("ok", 10**30, "range"), ("ok", "x" * 5000, "longer"),
    ("ok", "\ud800", "Unicode"),
]


@pytest.mark.parametrize("name,value,fragment", BAD_PARAMS)
def test_bad_params_name_their_field(name, value, fragment):
    msgs = errors_of(ExtensionCreate(), ext(param={name: value}))
    assert list(msgs) == ["param"] and list(msgs["param"]) == [name]
    assert fragment.lower() in " ".join(msgs["param"][name]).lower()


@pytest.mark.parametrize("value", [0, 60000, "60000", "0", True, "true", "TRUE", 2**31 - 1])
def test_cacheable_accepts_milliseconds_or_true(value):
    assert ExtensionCreate().load(ext(attribute={"cacheable": value}))


@pytest.mark.parametrize("value", [False, "false", "no", "", "1s", -1, "-5", 1.5, 2**31, "forever"])
def test_cacheable_rejects_what_freeswitch_would_cache_forever(value):
    msgs = errors_of(ExtensionCreate(), ext(attribute={"cacheable": value}))
    assert "cacheable" in msgs["attribute"]


@pytest.mark.parametrize("value", ["5001", 5001, "agent.smith", "+15551234"])
def test_number_alias_accepts_sip_user_parts(value):
    assert ExtensionCreate().load(ext(attribute={"number-alias": value}))


@pytest.mark.parametrize("value", ["50 01", "", "a;b", "${x}", True, "-1", "x" * 65])
def test_number_alias_rejects(value):
    assert "number-alias" in errors_of(ExtensionCreate(), ext(attribute={"number-alias": value}))["attribute"]


@pytest.mark.parametrize("attr", ["id", "ip", "type", "domain-name"])
def test_reserved_user_attributes(attr):
    assert attr in errors_of(ExtensionCreate(), ext(attribute={attr: "x"}))["attribute"]


@pytest.mark.parametrize("name", ["", "10 01", "1001\n", "${x}", "-1", "a" * 65, 1001, None,
                                  "export", "import"])
def test_extension_name(name):
    assert "name" in errors_of(ExtensionCreate(), {"name": name})


def test_unknown_fields_and_types_are_named():
    msgs = errors_of(ExtensionCreate(), {"name": "1001", "params": {}, "enabled": "yes",
                                         "param": [], "template": "bad name"})
    assert set(msgs) == {"params", "enabled", "param", "template"}


def test_null_hides_template_values_on_extensions():
    data = ExtensionPatch(partial=True).load({"param": {"password": None}, "template": None})
    assert data == {"param": {"password": None}, "template": None}


def test_mask_is_accepted_for_secrets_only():
    assert ExtensionCreate().load(ext(param={"a1-hash": MASK}))
    assert "auth-acl" in errors_of(ExtensionCreate(), ext(param={"auth-acl": MASK}))["param"]


def test_template_cannot_hold_per_extension_values():
    msgs = errors_of(TemplateCreate(), {"name": "t", "param": {"a1-hash": "0" * 32},
                                        "attribute": {"number-alias": "5000"}})
    assert "a1-hash" in msgs["param"] and "number-alias" in msgs["attribute"]


@pytest.mark.parametrize("name", ["", "-a.com", "a..com", "exämple.com", "a.com.", 5, "x" * 254])
def test_domain_name(name):
    assert "name" in errors_of(DomainCreate(), {"name": name})


def test_domain_name_is_lowercased():
    assert DomainCreate().load({"name": "PBX.Example.COM"})["name"] == "pbx.example.com"


def test_domain_has_no_attributes():
    assert "attribute" in errors_of(DomainCreate(), {"name": "a.com", "attribute": {}})


def test_value_errors_generic():
    assert value_errors("ok") == [] and value_errors(True) == [] and value_errors(-3) == []
    assert value_errors(None) and value_errors(b"bytes")


@pytest.mark.parametrize("schema,body,field", [
    (ExtensionCreate(), {"name": "X-pre-process"}, "name"),
    (ExtensionCreate(), ext(attribute={"number-alias": "x-PRE-process"}), "attribute"),
    (ExtensionCreate(), ext(param={"X-Pre-Process": "1"}), "param"),
    (ExtensionCreate(), ext(variable={"a.x-pre-process": "1"}), "variable"),
    (DomainCreate(), {"name": "x-pre-process.example.com"}, "name"),
    (DomainCreate(), {"name": "a.com", "realm": "x-pre-process.a.com"}, "realm"),
    (TemplateCreate(), {"name": "X-pre-process"}, "name"),
])
def test_no_name_that_reaches_the_xml_may_hold_the_preprocessor_word(schema, body, field):
    # The preprocessor drops (or runs) any line holding it, whether in a value or a name.
    msgs = errors_of(schema, body)
    assert "X-pre-process" in str(msgs[field])
