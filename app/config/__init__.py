"""Settings: defaults, then the optional cti.json-style file (FSCTI_CONFIG), then the environment.

The file is JSON that may carry `/* */` and `//` comments, as mod_cti's cti.json does. Every
setting is listed, with its default, in docs/configuration.md. Each section is checked by its
own module (file.py: the file; nodes.py: `freeswitch`; gui.py: `gui`; sections.py: `state`,
`listener`, `actions`, `esl_timeout`; access.py: `cli`, `directory`; web.py: `web`); a value
that cannot be used raises ConfigError naming the setting, so a process refuses to start rather
than fail later.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from app.config.access import (CLI_COMMANDS, DEFAULT_CLI_COMMANDS,  # noqa: F401
                               DIRECTORY_DEFAULT_ALLOW, cli_section, directory_networks,
                               directory_public_networks, directory_section)
from app.config.file import ConfigError, load_config_file, strip_json_comments  # noqa: F401
from app.config.console import console_section
from app.config.gui import DEFAULT_CALL_FIELDS, gui_section
from app.config.nodes import FreeSwitchNode, load_nodes
from app.config.sections import (DEFAULT_ACTIONS, DEFAULT_LISTENER, DEFAULT_STATE,  # noqa: F401
                                 actions_section, listener_section, state_section,
                                 esl_timeout, unreachable_log_interval)
from app.config.web import DEFAULT_WEB, web_section

PROJECT_ROOT = Path(__file__).resolve().parents[2]

__all__ = ["Settings", "ConfigError", "FreeSwitchNode", "PROJECT_ROOT", "DEFAULT_CALL_FIELDS",
           "DEFAULT_CLI_COMMANDS", "DEFAULT_STATE", "DEFAULT_LISTENER", "DEFAULT_ACTIONS",
           "strip_json_comments", "load_config_file"]


def _check_redis_urls(s: "Settings") -> None:
    """REDIS_URL must be a Redis URL; the Celery URLs may be anything kombu takes, but a
    redis+sentinel:// one must parse (app.redis_client)."""
    from app import redis_client

    for name, url, any_scheme in (("REDIS_URL", s.redis_url, False),
                                  ("CELERY_BROKER_URL", s.celery_broker_url, True),
                                  ("CELERY_RESULT_BACKEND", s.celery_result_backend, True)):
        try:
            if not any_scheme:
                redis_client.check(url)
            elif redis_client.is_sentinel(url):
                redis_client.parse(url)
        except ValueError as exc:
            raise ConfigError(f"{name}: {exc}") from exc


@dataclass
class Settings:
    """Everything fscti reads from its environment and config file."""

    database_url: str = f"sqlite:///{PROJECT_ROOT / 'var' / 'fscti.db'}"
    redis_url: str = "redis://127.0.0.1:6379/0"
    celery_broker_url: str = ""
    celery_result_backend: str = ""
    admin_token: str = ""
    port: int = 5000
    freeswitch: list[FreeSwitchNode] = field(default_factory=list)
    gui: dict = field(default_factory=lambda: gui_section(None))
    state: dict = field(default_factory=lambda: state_section(None))
    listener: dict = field(default_factory=lambda: listener_section(None, {}))
    actions: dict = field(default_factory=lambda: actions_section(None))
    cli_keys: list[str] = field(default_factory=list)
    cli_commands: list[str] = field(default_factory=lambda: list(DEFAULT_CLI_COMMANDS))
    directory_credentials: str = ""
    # Client networks /directory answers; [] = any. Default: loopback and private networks.
    directory_allow: list = field(
        default_factory=lambda: directory_networks(list(DIRECTORY_DEFAULT_ALLOW)))
    # Seconds the /directory hot path waits for Redis before answering from SQL.
    directory_redis_timeout: float = 0.25
    # Per-process cache of /directory answers kept exact by Redis invalidation (docs/freeswitch.md).
    directory_cache: bool = True
    directory_cache_entries: int = 4096
    directory_cache_max_age: float = 1.0
    # The per-host replica (app/replica; docs/freeswitch.md §7.1): lookups read it when on.
    directory_replica: bool = False
    directory_replica_path: str = "var/replica"
    directory_replica_host: str = ""
    directory_replica_lease: float = 1.0
    esl_connect_timeout: float = 5.0
    # s between WARNINGs about a FreeSWITCH node that stays unreachable (app/quiet.py)
    unreachable_log_interval: float = 300.0
    # Reverse proxies in front of `web` whose X-Forwarded-* headers are believed (0 = none).
    trusted_proxies: int = DEFAULT_WEB["trusted_proxies"]
    # Largest request body, in bytes (413 beyond it); /directory and /cli have smaller ones.
    max_content_length: int = DEFAULT_WEB["max_content_length"]
    # The /console settings (app/config/console.py): session lifetime, repaint period.
    console: dict = field(default_factory=lambda: console_section(None, {}))
    log_level: str = "INFO"
    raw: dict = field(default_factory=dict)

    @classmethod
    def load(cls, env: dict | None = None) -> "Settings":
        """Build settings from FSCTI_CONFIG (if set) and the environment; env wins."""
        env = os.environ if env is None else env
        s = cls()
        data: dict = {}
        if env.get("FSCTI_CONFIG"):
            data = load_config_file(env["FSCTI_CONFIG"])
        s.raw = data
        s.database_url = env.get("DATABASE_URL") or data.get("database_url") or s.database_url
        s.redis_url = env.get("REDIS_URL") or data.get("redis_url") or s.redis_url
        s.celery_broker_url = (env.get("CELERY_BROKER_URL") or data.get("celery_broker_url")
                               or s.redis_url)
        s.celery_result_backend = (env.get("CELERY_RESULT_BACKEND")
                                   or data.get("celery_result_backend") or s.redis_url)
        _check_redis_urls(s)
        s.admin_token = env.get("FSCTI_ADMIN_TOKEN") or ""
        try:
            s.port = int(env.get("PORT") or data.get("port") or s.port)
        except ValueError as exc:
            raise ConfigError("PORT: not a number") from exc
        s.freeswitch = load_nodes(data, env)
        s.gui = gui_section(data.get("gui"))
        s.state = state_section(data.get("state"))
        s.listener = listener_section(data.get("listener"), env)
        s.actions = actions_section(data.get("actions"))
        s.cli_keys, s.cli_commands = cli_section(data.get("cli"), env)
        directory = directory_section(data.get("directory"), env)
        s.directory_credentials = directory["credentials"]
        s.directory_allow = directory["allow"]
        s.directory_redis_timeout = directory["redis_timeout"]
        s.directory_cache = directory["cache"]
        s.directory_cache_entries = directory["cache_entries"]
        s.directory_cache_max_age = directory["cache_max_age"]
        s.directory_replica = directory["replica"]
        s.directory_replica_path = directory["replica_path"]
        s.directory_replica_host = directory["replica_host"]
        s.directory_replica_lease = directory["replica_lease"]
        s.esl_connect_timeout = esl_timeout(data, env)
        s.unreachable_log_interval = unreachable_log_interval(data, env)
        web = web_section(data.get("web"), env)
        s.trusted_proxies, s.max_content_length = web["trusted_proxies"], web["max_content_length"]
        s.console = console_section(data.get("console"), env)
        s.log_level = (env.get("LOG_LEVEL") or data.get("log_level") or "INFO").upper()
        return s

    def directory_public_networks(self) -> list[str]:
        """Networks beyond loopback/private that /directory answers without credentials."""
        return directory_public_networks(self.directory_credentials, self.directory_allow)

    def node(self, name: str) -> FreeSwitchNode | None:
        """The configured FreeSWITCH node with this name."""
        return next((n for n in self.freeswitch if n.name == name), None)

    def node_at(self, address: str) -> FreeSwitchNode | None:
        """The configured node at this address: `host:port`, or a bare host when exactly one
        node has it (FREESWITCH_ESL names its node after the host). Host names compare
        without letter case, as DNS does."""
        address = str(address or "").lower()
        exact = [n for n in self.freeswitch if f"{n.host}:{n.port}".lower() == address]
        if exact:
            return exact[0]
        same_host = [n for n in self.freeswitch if n.host.lower() == address]
        return same_host[0] if len(same_host) == 1 else None
