"""The rebuild's fast formatter (app.mirror.bulk) gives exactly what the per-write path gives
(app.mirror.source.entry_of over the general template merge), for any sections: names that
collide with the template's exactly or only by letter case, nulls that remove a template
value, unicode, numbers, nested values."""
import json

from hypothesis import given, settings, strategies as st

from app.mirror.bulk import Formatter, _section
from app.mirror.source import effective_of, entry_of

NAMES = st.sampled_from(["password", "Password", "PASSWORD", "vm-password", "number-alias",
                         "Number-Alias", "user_context", "cacheable", "é-var", "x"])
LEAF = st.one_of(st.none(), st.booleans(), st.integers(-10**6, 10**6),
                 st.text(max_size=8), st.floats(allow_nan=False, allow_infinity=False))
VALUE = st.one_of(LEAF, st.lists(LEAF, max_size=2), st.dictionaries(st.text(max_size=3), LEAF,
                                                                     max_size=2))
SECTION = st.dictionaries(NAMES, VALUE, max_size=5)
TEMPLATE = st.one_of(st.none(), st.tuples(SECTION, SECTION, SECTION))


def stored(section) -> str:
    """A section as SQLAlchemy's JSON type stores it (json.dumps, ASCII escapes)."""
    return json.dumps(section)


@settings(max_examples=400, deadline=None)
@given(TEMPLATE, SECTION, SECTION, SECTION, st.booleans())
def test_fast_formatter_equals_the_general_merge(tpl, param, variable, attribute, enabled):
    templates = {} if tpl is None else {7: tpl}
    name, value, alias = Formatter(templates).row(
        "1001", enabled, 7 if tpl else None, stored(param), stored(variable), stored(attribute))
    want = entry_of("1001", enabled, effective_of(tpl, param, variable, attribute))
    assert name == want.name and alias == want.alias
    if not enabled:
        assert value == b"" and want.json == ""
        return
    assert json.loads(value) == json.loads(want.json)
    # Same key order as the general merge (FreeSWITCH sees params in this order).
    assert list(json.loads(value)) == ["param", "variable", "attribute"]
    for s in ("param", "variable", "attribute"):
        assert list(json.loads(value)[s]) == list(json.loads(want.json)[s])


def test_ordinary_values_are_byte_identical_to_the_per_write_path():
    tpl = ({"allow-empty-password": False, "max-registrations-per-extension": 2},
           {"user_context": "default"}, {"cacheable": "60000"})
    own = ({"password": "pw-é"}, {"effective_caller_id_name": "Zoë \"Z\" \\ ü"},
           {"number-alias": 5000})
    _, value, alias = Formatter({1: tpl}).row("1001", True, 1, *(stored(x) for x in own))
    want = entry_of("1001", True, effective_of(tpl, *own))
    assert value.decode() == want.json and alias == want.alias == "5000"


def test_a_template_value_is_never_changed_by_a_merge():
    tpl = ({"a": 1}, {}, {})
    fmt = Formatter({1: tpl})
    fmt.row("1", True, 1, '{"b": 2}', "{}", "{}")
    _, value, _ = fmt.row("2", True, 1, "{}", "{}", "{}")
    assert json.loads(value)["param"] == {"a": 1} and tpl[0] == {"a": 1}


def test_stored_null_nan_and_empty_text_read_as_sections():
    assert _section(None) == {} and _section("") == {} and _section("null") == {}
    assert _section('{"x": NaN}')["x"] != _section('{"x": NaN}')["x"]  # json.loads' NaN
