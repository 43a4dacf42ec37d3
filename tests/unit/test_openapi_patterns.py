"""The patterns /openapi.json gives for names mean exactly what the app accepts, and the
section JSON Schema covers every rule of app.schemas.section_rules (strings the document calls valid
are accepted by the app)."""
import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from marshmallow import ValidationError

from app import names
from app.schemas import patterns
from app.schemas.domain import DomainName
from app.schemas.extension import ExtensionName
from app.schemas.section_doc import RULE_SCHEMAS, section_schema
from app.schemas.section_rules import RULES, entry_errors
from app.schemas.template import TemplateName

NAMEISH = st.text(alphabet=st.sampled_from("abxXeEpPrRocsS019+-_. \n\t\x00é"), max_size=70)


def _accepts(field, value) -> bool:
    try:
        field.deserialize(value)
        return True
    except ValidationError:
        return False


CASES = [
    (patterns.DOMAIN, lambda v: _accepts(DomainName(), v)),
    (patterns.EXTENSION_NAME, lambda v: _accepts(ExtensionName(), v)),
    (patterns.TEMPLATE, lambda v: _accepts(TemplateName(), v)),
    (patterns.UUID, names.is_uuid),
]


@pytest.mark.parametrize("pattern, accepts", CASES)
@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=st.data())
def test_a_name_pattern_means_what_the_app_accepts(pattern, accepts, data):
    # ECMA-262's `$` is the end of the text (Python's also matches before a final newline),
    # so a whole match is what the document's anchored patterns mean
    generated = data.draw(st.from_regex(pattern, fullmatch=True))
    assert accepts(generated), generated
    arbitrary = data.draw(st.one_of(NAMEISH, st.text(max_size=70)))
    assert bool(re.fullmatch(pattern, arbitrary)) == accepts(arbitrary), repr(arbitrary)


def test_a_trailing_newline_is_no_name():
    # Python's `$` matches before a final newline; these patterns are only used whole
    for pattern, accepts in CASES[:3]:
        assert not accepts("abc\n") and not re.fullmatch(pattern, "abc\n")


def test_every_rule_is_described():
    assert set(RULE_SCHEMAS) == set(RULES)


def _strings(schema: dict):
    """The string branches of a value schema."""
    for branch in schema.get("anyOf", [schema]):
        if branch.get("type") == "string" and "pattern" in branch:
            yield branch


@pytest.mark.parametrize("key", sorted(RULE_SCHEMAS))
@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=st.data())
def test_a_value_the_document_allows_passes_the_rule(key, data):
    section, name = key
    for branch in _strings(RULE_SCHEMAS[key]):
        value = data.draw(st.from_regex(branch["pattern"], fullmatch=True).filter(
            lambda v, b=branch: b.get("minLength", 0) <= len(v) <= b.get("maxLength", 10**9)))
        assert entry_errors("extension", section, name, value, True) == [], (name, value)


@settings(max_examples=200, deadline=None, suppress_health_check=list(HealthCheck))
@given(name=st.from_regex(patterns.SAFE_NAME, fullmatch=True),
       value=st.from_regex(patterns.VALUE_TEXT, fullmatch=True).filter(lambda v: len(v) <= 4096))
def test_a_generic_entry_the_document_allows_is_accepted(name, value):
    doc = section_schema("extension", "variable", True)
    assert re.fullmatch(doc["propertyNames"]["pattern"], name)
    assert entry_errors("extension", "variable", name, value, True) == []
