"""Schemathesis against the app's own /openapi.json, in-process (WSGI), bounded, fixed seed.

Every operation of the document is exercised with schema-generated requests (examples,
coverage and fuzzing phases) as an admin, against real SQL, real Redis, a live call in the
state and the wire-level event-socket peer as FreeSWITCH. Every response must be no server
error, of a documented status and content type, match its documented schema, and a request
the document calls valid must not be refused (400/415/422).

Half the cases are pointed at the objects the test made (domain, extension, template, the
live call, an action, the /cli key) so the operations answer from real data, not only 404.
"""
import hashlib

import pytest
import schemathesis
from schemathesis import checks as st_checks
from sqlalchemy import select

from app import create_app
from app.config import Settings
from app.extensions import db
from app.models import Action, Domain, Extension, Template
from tests.eslpeer import EslPeer
from tests.support.actions import A5, DOMAIN, call5_up, purge_actions_queue, use_nodes

SEED = 20261201
MAX_EXAMPLES = 12
CLI_KEY = "fuzz-gateway-key"
CHECKS = ("not_a_server_error", "status_code_conformance", "content_type_conformance",
          "response_schema_conformance", "positive_data_acceptance")
CONFIG = {
    "seed": SEED,
    "generation": {"max-examples": MAX_EXAMPLES, "database": "none", "deterministic": True},
    "phases": {"examples": {"enabled": True},
               "coverage": {"enabled": True, "unexpected-methods": []},
               "fuzzing": {"enabled": True}, "stateful": {"enabled": False}},
    "suppress-health-check": ["all"],
    "operations": [
        # Where validity depends on fields together, which JSON Schema cannot state for them,
        # the operation's own refusal is accepted from well-formed data: an import's rows (a
        # name twice, a name that exists in create mode, the CSV grammar) get a row-indexed
        # 422 (tests/api/test_import_export.py); /cli's `arg` grammar depends on `cmd`, its
        # refusal is a 400 `-ERR fscti:` (tests/api/test_httpcli.py).
        {"include-path": "/api/v1/domains/{domain}/extensions/import",
         "checks": {"positive_data_acceptance": {
             "expected-statuses": ["2xx", "401", "403", "404", "409", "422"]}}},
        {"include-path": "/cli", "checks": {"positive_data_acceptance": {
            "expected-statuses": ["2xx", "400", "401", "403", "404"]}}},
    ],
}


@schemathesis.serializer("application/csv")
def _csv(_ctx, value):
    """The import's second CSV media type: the text as UTF-8, like text/csv."""
    return value if isinstance(value, bytes) else str(value).encode("utf-8", "surrogatepass")


class World:
    """What the cases can address: the seeded objects, rebuilt after a write changed them."""

    def __init__(self, client, headers, rdb, settings):
        self.client, self.headers, self.rdb, self.settings = client, headers, rdb, settings
        self.values: dict[str, str] = {}
        self.exercised: dict[str, int] = {}
        self.dirty = True

    def rebuild(self) -> None:
        with self.client.application.app_context():
            db.session.remove()
            with db.engine.begin() as conn:
                for table in reversed(db.metadata.sorted_tables):
                    if table.name != "api_token":
                        conn.execute(table.delete())
        if not self.values:  # the live call: no API write changes it (no worker runs here)
            call5_up(self.rdb, self.settings)
        for method, url, body in (
                ("POST", "/api/v1/templates", {"name": "basic", "param": {"password": "t0p"}}),
                ("POST", "/api/v1/domains", {"name": DOMAIN}),
                ("POST", f"/api/v1/domains/{DOMAIN}/extensions",
                 {"name": "1001", "template": "basic", "attribute": {"number-alias": "501"}}),
                ("POST", f"/api/v1/domains/{DOMAIN}/extensions", {"name": "1002"}),
                ("POST", f"/api/v1/calls/{A5}/supervise", {"supervisor": "1003"})):
            r = self.client.open(url, method=method, json=body, headers=self.headers)
            assert r.status_code in (201, 202), (url, r.get_json())
        purge_actions_queue(self.settings)
        action = r.get_json()["id"]
        self.values = {"domain": DOMAIN, "ext": "1001", "name": "basic", "uuid": A5,
                       "action_id": action, "supervision_id": action}
        self.dirty = False

    def aim(self, case) -> None:
        """Point every other case (by a hash of its data, so the run stays reproducible) at
        the seeded objects and the real /cli key."""
        data = repr((case.path_parameters, case.query, case.body)).encode()
        if hashlib.sha256(data).digest()[0] % 2:
            return False
        for name in case.path_parameters or {}:
            if name in self.values:
                case.path_parameters[name] = self.values[name]
        if case.operation.path == "/cli":
            target = case.query if case.method == "GET" else case.body
            if isinstance(target, dict):
                target["key"] = CLI_KEY
        return True

    def intact(self) -> bool:
        """Whether the seeded objects are still there (a write to them may have removed them)."""
        with self.client.application.app_context():
            found = db.session.execute(
                select(Extension.id).join(Domain, Extension.domain_id == Domain.id)
                .join(Template, Extension.template_id == Template.id)
                .where(Domain.name == DOMAIN, Extension.name == "1001",
                       Template.name == "basic")).first()
            action = db.session.get(Action, self.values["action_id"])
            db.session.remove()
        return found is not None and action is not None


@pytest.fixture
def world(app, client, tokens, rdb, settings, monkeypatch):
    monkeypatch.setattr(settings, "cli_keys", [CLI_KEY])
    # The WSGI transport sends no client address: let /directory answer any (its guard is
    # built once per app from the settings).
    monkeypatch.setattr(settings, "directory_allow", [])
    monkeypatch.delitem(app.extensions, "fscti-directory-guard", raising=False)
    with EslPeer() as peer:
        peer.api.set("strmicroepoch", "1795670604000000")
        use_nodes(monkeypatch, settings, fs1=peer)
        w = World(client, tokens["admin"], rdb, settings)
        yield w
    purge_actions_queue(settings)


def _document() -> dict:
    """/openapi.json of an app like the tests' (the document depends on no setting)."""
    app = create_app(Settings.load(env={}))
    return app.test_client().get("/openapi.json").get_json()


DOCUMENT = _document()
schema = schemathesis.openapi.from_dict(DOCUMENT, config=schemathesis.Config.from_dict(CONFIG))
# operation → the statuses it answered, across the run
ANSWERS: dict[str, set[int]] = {}


@schema.parametrize()
def test_the_api_keeps_the_promises_of_its_openapi_document(case, app, world):
    if world.dirty:
        world.rebuild()
    aimed = world.aim(case)
    response = case.call(app=app, headers=world.headers)
    ANSWERS.setdefault(f"{case.operation.method.upper()} {case.operation.path}", set()).add(
        response.status_code)
    if aimed and case.method.upper() != "GET" and response.status_code < 300:
        world.dirty = not world.intact()
    case.validate_response(response, checks=[getattr(st_checks, name) for name in CHECKS])


def test_every_operation_of_the_document_was_exercised():
    """Runs after the cases above (pytest keeps the module's order): no operation was left
    out, and each answered at least one case past authentication."""
    documented = {f"{method.upper()} {path}" for path, item in DOCUMENT["paths"].items()
                  for method in item if method != "parameters"}
    assert set(ANSWERS) == documented, documented ^ set(ANSWERS)
    assert [op for op, statuses in ANSWERS.items() if statuses <= {401}] == []
