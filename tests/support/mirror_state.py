"""What the Redis mirror of a domain must hold, computed from SQL with the ORM's own merge,
and the assertion that it does (the rebuild, reconcile and migration tests)."""
import json

from app.extensions import db
from app.mirror.effective import effective
from app.models import Domain, Extension
from app.state import keys


def expected_state(domain: Domain) -> tuple[dict, dict, set]:
    """(hash, alias index, disabled set) that SQL implies, computed with the ORM's merge."""
    h, alias, disabled = {}, {}, set()
    for ext in db.session.execute(db.select(Extension).filter_by(domain_id=domain.id)).scalars():
        if not ext.enabled:
            disabled.add(ext.name)
            continue
        eff = effective(ext)
        h[ext.name] = eff
        a = str(eff["attribute"].get("number-alias") or "")
        if a and a.lower() != ext.name:
            alias[a.lower()] = ext.name
        if ext.name.lower() != ext.name:
            alias[ext.name.lower()] = ext.name
    return h, alias, disabled


def assert_mirror_matches(rdb, domain: Domain):
    db.session.expire_all()
    h, alias, disabled = expected_state(domain)
    got = {k: json.loads(v) for k, v in rdb.hgetall(keys.exten(domain.name)).items()}
    assert got == h
    assert rdb.hgetall(keys.alias(domain.name)) == alias
    assert rdb.smembers(keys.disabled(domain.name)) == disabled
