"""The letter-case registry (app.schemas.known_names) and the case-insensitive merge."""
import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.mirror.effective import merge_section, overlay
from app.schemas.known_names import KNOWN, canonical, fold_input, fold_stored, has, lookup
from app.schemas.secrets import redact, unmask
from app.schemas.section_rules import RULES, SECRET_NAMES, entry_errors
from app.services.password_hash import a1_hash, hash_params


@pytest.mark.parametrize("section, given, stored", [
    ("param", "PASSWORD", "password"),
    ("param", "Sip-Force-Expires", "sip-force-expires"),
    ("variable", "VM-Password", "vm-password"),
    ("variable", "User_Context", "user_context"),
    ("param", "Dial-Var-sip_h_X-Foo", "dial-var-sip_h_X-Foo"),  # only the prefix
    ("variable", "sip_h_X-Foo", "sip_h_X-Foo"),  # unknown: a SIP header name on the wire
    ("param", "My-Thing", "My-Thing"),
    ("attribute", "Cacheable", "cacheable"),
    ("attribute", "Number-Alias", "number-alias"),
    ("attribute", "ID", "ID"),  # refused by the rules, never folded into the real id
])
def test_canonical(section, given, stored):
    assert canonical(section, given) == stored


def test_every_ruled_or_secret_name_is_known():
    assert SECRET_NAMES <= KNOWN
    assert {n for s, n in RULES if s == "param"} <= KNOWN
    assert all(n == n.lower() for n in KNOWN)


def test_fold_input_names_both_spellings():
    out, errors = fold_input("param", {"Foo": 1, "PASSWORD": "x", "foo": 2, "FOO": 3})
    assert out == {"Foo": 1, "password": "x"}
    assert set(errors) == {"Foo", "foo", "FOO"}
    assert len(errors["Foo"]) == 2 and "'FOO'" in errors["FOO"][0]


def test_fold_stored_is_deterministic():
    assert fold_stored("param", {"Password": "b", "password": "a"})[0] == {"password": "a"}
    assert fold_stored("param", {"password": None, "PassWord": "v"})[0] == {"password": "v"}
    assert fold_stored("param", {"X": 1, "x": 2})[0] == {"X": 1}  # unknown: the first
    out, notes = fold_stored("param", {"ok": 1})
    assert (out, notes) == ({"ok": 1}, [])


def test_entry_rules_apply_in_any_case():
    assert entry_errors("extension", "param", "A1-HASH", "nope", True)
    assert entry_errors("extension", "attribute", "Type", "x", True)[0].startswith("reserved")
    assert entry_errors("template", "attribute", "Number-Alias", "5", True)
    assert entry_errors("extension", "param", "PASSWORD", "********", True) == []


def test_overlay_the_nearer_owner_wins_whatever_the_case():
    base = {"Foo": "tpl", "bar": 1}
    assert merge_section(base, {"foo": "own"}) == {"bar": 1, "foo": "own"}
    assert merge_section(base, {"FOO": None}) == {"bar": 1}
    assert overlay(base, {"FOO": None}, keep_null=True) == {"bar": 1, "FOO": None}
    assert merge_section(None, {"a": None, "b": 2}) == {"b": 2}
    assert merge_section(base, None) == base and merge_section(base, None) is not base


names = st.sampled_from(["foo", "Foo", "FOO", "bar", "Bar", "password", "Password"])
sections = st.dictionaries(names, st.one_of(st.none(), st.integers(0, 3)), max_size=5)


@given(sections, sections)
def test_merge_equals_the_exact_merge_on_lowercase_names(base, own):
    """Without case duplicates inside one section, the merge is the plain merge of the
    lowercased names, and never holds two spellings of one name."""
    base = fold_stored("x", base)[0]
    own = fold_stored("x", own)[0]
    got = merge_section(base, own)
    low = {k.lower(): v for k, v in base.items()}
    for k, v in own.items():
        if v is None:
            low.pop(k.lower(), None)
        else:
            low[k.lower()] = v
    assert {k.lower(): v for k, v in got.items()} == low
    assert len({k.lower() for k in got}) == len(got)


def test_masking_and_keeping_find_any_spelling():
    assert redact({"PASSWORD": "x", "Reverse-Auth-Pass": "y", "other": "z", "A1-Hash": None}) == {
        "PASSWORD": "********", "Reverse-Auth-Pass": "********", "other": "z", "A1-Hash": None}
    out, errors = unmask({"password": "********"}, {"PASSWORD": "kept"}, "param")
    assert (out, errors) == ({"password": "kept"}, {})
    assert lookup({"A1-Hash": "h"}, "a1-hash") == "h" and has({"Password": None}, "password")


def test_hash_params_finds_every_spelling():
    out = hash_params("1001", "r", {"password": None, "Password": "p", "A1-HASH": "old"}, None,
                      None)
    assert out == {"a1-hash": a1_hash("1001", "r", "p"), "password": None}
    out = hash_params("1001", "r", {}, None, {"PASSWORD": "tpl"})
    assert out == {"a1-hash": a1_hash("1001", "r", "tpl"), "password": None}
