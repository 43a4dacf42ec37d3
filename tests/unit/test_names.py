import pytest

from app.names import is_domain, is_extension, is_safe_name, is_uuid

HOSTILE = ["", " ", "1001 ", "10\n01", "10\r01", "1001\x00", "${system(id)}", "{a=b}", "a,b",
           "a|b", "(x)", "a'b", 'a"b', "a\\b", "a;b", "a&b", "a%b", "a$b", "a^b", "[x]", "a b"]


@pytest.mark.parametrize("bad", HOSTILE + ["-1001", ".1", "x" * 65])
def test_extension_rejects(bad):
    assert not is_extension(bad)


@pytest.mark.parametrize("good", ["1001", "+15551234", "agent.smith", "a_b-c", "X" * 64])
def test_extension_accepts(good):
    assert is_extension(good)


@pytest.mark.parametrize("bad", HOSTILE + ["-a.com", "a..com", "a.com.", "x" * 64 + ".com"])
def test_domain_rejects(bad):
    assert not is_domain(bad)


@pytest.mark.parametrize("good", ["127.0.0.1", "pbx.example.com", "a", "call-centre.local"])
def test_domain_accepts(good):
    assert is_domain(good)


def test_uuid():
    assert is_uuid("1f474b02-c679-4a1b-8803-115a722f4a65")
    for bad in HOSTILE + ["1F474B02-C679-4A1B-8803-115A722F4A65", "1f474b02-c679-4a1b-8803-115a722f4a65\n"]:
        assert not is_uuid(bad)


def test_safe_name():
    assert is_safe_name("sip-force-contact") and is_safe_name("user_context")
    for bad in HOSTILE + ["1abc", "a" * 129]:
        assert not is_safe_name(bad)
