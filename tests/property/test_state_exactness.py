"""Exactness of the state under duplication, reordering and concurrent workers (hypothesis).

The real capture (events.jsonl) is replayed with events duplicated, shuffled, cut into
random batches, and applied by several workers at once (threads and processes, each with its
own Redis connection, against the real Redis). The SPEC outputs must equal those of one
in-order pass: `cti_userinfo@<domain>`, the `registrations` hash and the `calls` hash.
"""
import dataclasses
import json
import multiprocessing
import random
import threading

import pytest
import redis
from hypothesis import HealthCheck, given, settings as hsettings, strategies as st

from app.config import Settings
from app.mirror.write import write_ops
from app.state import generation
from app.state.events import slim_event
from app.state.ingest import apply_events
from tests.eslpeer.aliases import renamed
from tests.support.replay import DOMAIN, NODE, outputs, phase_us, raw_events, slim_events, until

END = phase_us("run_end")
# cut points: inside calls, between steps, at the end (intermediate states must be exact too)
CUTS = [phase_us(p) for p in ("reg_cycle_1001:end", "call1_caller_hangup:bridged",
                              "call3_callee_rejects_486:end", "call4_uuid_kill:bridged",
                              "wait_expire:end", "eavesdrop:originate",
                              "call7_eavesdrop_whisper_aleg:bridged", "run_end")]
CUTS += [1795670605_000000, 1795670623_000000, 1795670640_000000]       # supervisor legs up

VARIANTS = {
    "spec-defaults": {},
    "remove-hangup": {"call": {"remove_hangup": True}},
    "multi-registrations": {"state": {"multiple_registrations": True}},
    # phones of extensions 1011-1013 using their number-aliases 5011-5013: the
    # events name only the aliases, the mirror resolves them
    "aliases": {"rename": {"1001": "5011", "1002": "5012", "1003": "5013"}},
}


def variant_settings(base: Settings, name: str) -> Settings:
    v = VARIANTS[name]
    gui = {"registration": dict(base.gui["registration"]),
           "call": dict(base.gui["call"], **v.get("call", {}))}
    return dataclasses.replace(base, gui=gui, state=dict(base.state, **v.get("state", {})))


def variant_events(s: Settings, variant: str, cut: int) -> list:
    """The slim events created up to `cut`, as the variant's phones send them."""
    names = VARIANTS[variant].get("rename")
    if not names:
        return until(slim_events(s), cut)
    out = (slim_event(renamed(e, names), s) for e in raw_events())
    return until([e for e in out if e], cut)


def fresh(client, variant: str) -> None:
    """An empty database, with the variant's extensions in the directory mirror."""
    client.flushdb()
    generation.stamp(client)  # an emptied db starts a data generation (else no mirror write lands)
    names = VARIANTS[variant].get("rename")
    if names:
        value = json.dumps({"param": {}, "variable": {}, "attribute": {}})
        write_ops(client, DOMAIN, [["U", "1" + a[1:], value, a] for a in names.values()])


@pytest.fixture(scope="module")
def base_settings(settings):
    return settings


@pytest.fixture(scope="module")
def client(base_settings):
    c = redis.Redis.from_url(base_settings.redis_url, decode_responses=True)
    yield c
    c.close()


_REFERENCE: dict = {}


def reference(client, s: Settings, variant: str, cut: int) -> dict:
    """Outputs of one in-order pass over the events created up to `cut`."""
    key = (variant, cut)
    if key not in _REFERENCE:
        fresh(client, variant)
        apply_events(client, s, NODE, variant_events(s, variant, cut), now=cut)
        _REFERENCE[key] = outputs(client)
    return _REFERENCE[key]


@st.composite
def schedules(draw):
    """(variant, cut, list of batches): duplicates, a shuffle (windowed or total), batch cuts."""
    variant = draw(st.sampled_from(sorted(VARIANTS)))
    cut = draw(st.sampled_from(CUTS))
    seed = draw(st.integers(0, 2**32 - 1))
    window = draw(st.sampled_from([1, 3, 10, 50, 10_000]))          # 10_000: any order
    dup_rate = draw(st.sampled_from([0.0, 0.1, 0.5, 1.0]))
    max_batch = draw(st.sampled_from([1, 7, 40, 500]))
    return variant, cut, seed, window, dup_rate, max_batch


def make_batches(events, seed, window, dup_rate, max_batch):
    """Duplicates inserted anywhere, a shuffle inside consecutive windows, random batch cuts."""
    rnd = random.Random(seed)
    stream = list(events)
    for e in [e for e in events if rnd.random() < dup_rate]:
        stream.insert(rnd.randrange(len(stream) + 1), e)
    shuffled = []
    for i in range(0, len(stream), window):
        chunk = stream[i:i + window]
        rnd.shuffle(chunk)
        shuffled.extend(chunk)
    batches, i = [], 0
    while i < len(shuffled):
        n = rnd.randint(1, max_batch)
        batches.append(shuffled[i:i + n])
        i += n
    return batches


@hsettings(max_examples=60, deadline=None,
           suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(schedules())
def test_one_worker_any_order_duplicates_and_batches(client, base_settings, schedule):
    variant, cut, seed, window, dup_rate, max_batch = schedule
    s = variant_settings(base_settings, variant)
    expected = reference(client, s, variant, cut)
    fresh(client, variant)
    for batch in make_batches(variant_events(s, variant, cut), seed, window, dup_rate, max_batch):
        apply_events(client, s, NODE, batch, now=cut)
    assert outputs(client) == expected


@hsettings(max_examples=25, deadline=None,
           suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(schedules(), st.integers(2, 6))
def test_concurrent_workers_threads(client, base_settings, schedule, workers):
    variant, cut, seed, window, dup_rate, max_batch = schedule
    s = variant_settings(base_settings, variant)
    expected = reference(client, s, variant, cut)
    fresh(client, variant)
    batches = make_batches(variant_events(s, variant, cut), seed, window, dup_rate, max_batch)
    shares = [batches[i::workers] for i in range(workers)]
    barrier = threading.Barrier(workers)
    errors = []

    def work(share):
        own = redis.Redis.from_url(s.redis_url, decode_responses=True)
        try:
            barrier.wait()
            for batch in share:
                apply_events(own, s, NODE, batch, now=cut)
        except Exception as exc:       # reported below: a thread cannot fail the test itself
            errors.append(exc)
        finally:
            own.close()

    threads = [threading.Thread(target=work, args=(share,)) for share in shares]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []
    assert outputs(client) == expected


def _process_worker(redis_url, variant, cut, batches, start):
    s = variant_settings(Settings.load(env={}), variant)
    s.redis_url = redis_url
    own = redis.Redis.from_url(redis_url, decode_responses=True)
    start.wait(30)
    for batch in batches:
        apply_events(own, s, NODE, batch, now=cut)


@pytest.mark.integration     # three worker processes
@pytest.mark.timeout(600)     # each of the three may take its join(120); all of it on a busy machine
@pytest.mark.parametrize("variant, seed", [("spec-defaults", 1), ("remove-hangup", 2),
                                           ("multi-registrations", 3), ("aliases", 4)])
def test_concurrent_worker_processes(client, base_settings, variant, seed):
    """Separate processes (as Celery prefork workers are), each with its share of batches."""
    s = variant_settings(base_settings, variant)
    expected = reference(client, s, variant, END)
    fresh(client, variant)
    batches = make_batches(variant_events(s, variant, END), seed, 10_000, 0.5, 20)
    ctx = multiprocessing.get_context("spawn")
    start = ctx.Event()
    procs = [ctx.Process(target=_process_worker, args=(s.redis_url, variant, END, batches[i::3], start))
             for i in range(3)]
    for p in procs:
        p.start()
    start.set()
    for p in procs:
        p.join(120)
    assert [p.exitcode for p in procs] == [0, 0, 0]
    assert outputs(client) == expected


@pytest.mark.parametrize("cut", CUTS)
def test_alias_phones_give_the_plain_state_under_their_extensions(client, base_settings, cut):
    """The capture with every user renamed to its alias lands on the extensions, exactly as the
    plain capture lands on 1001-1003: the same bindings, calls and gui states."""
    plain = reference(client, variant_settings(base_settings, "spec-defaults"), "spec-defaults", cut)
    aliased = reference(client, variant_settings(base_settings, "aliases"), "aliases", cut)

    def summary(out, names):
        ext = {x: names.get(x, x) for x in set(out["userinfo"]) | set(out["calls"])}
        return {
            "register": {ext[x]: [b["call-id"] for b in v.get("bindings", [])]
                         for x, v in out["userinfo"].items()},
            "calls": {ext[x]: [c["Unique-ID"] for c in v["calls"]] for x, v in out["userinfo"].items()},
            "gui": {ext[x]: (v["current"], v["notify"], v["activity"]) for x, v in out["calls"].items()},
            "registrations": {names.get(x, x): v["call-id"] for x, v in out["registrations"].items()},
        }

    assert summary(aliased, {}) == summary(plain, {"1001": "1011", "1002": "1012", "1003": "1013"})
    assert not any(x.startswith("5") for part in aliased.values() for x in part)
