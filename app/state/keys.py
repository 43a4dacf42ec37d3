"""Every Redis key fscti reads or writes is named here, and nowhere else.

The `cti_*` names and the `gui` hashes are a compatibility contract with mod_cti GUIs (SPEC §1-§3).
Keys of fscti's own start with `fscti:`.
"""


def exten_prefix() -> str:
    """Prefix of `exten(domain)`; the state script appends a domain to it (and nothing else)."""
    return "cti_exten@"


def exten(domain: str) -> str:
    """Hash: field = extension, value = effective JSON {param, variable, attribute} (SPEC §1)."""
    return f"{exten_prefix()}{domain}"


def userinfo_prefix() -> str:
    """Prefix of `userinfo(domain)`; the state script appends a domain to it."""
    return "cti_userinfo@"


def userinfo(domain: str) -> str:
    """Hash: field = extension, value = registration and live calls JSON (SPEC §2)."""
    return f"{userinfo_prefix()}{domain}"


def domains() -> str:
    """Hash: field = domain name, value = JSON {realm, param, variable} for the directory."""
    return "fscti:domains"


def alias_prefix() -> str:
    """Prefix of `alias(domain)`; the state script appends a domain to it (and nothing else)."""
    return "fscti:alias@"


def alias(domain: str) -> str:
    """Hash: field = number-alias (and an id with capitals) in lowercase, value = extension name."""
    return f"{alias_prefix()}{domain}"


def mirror_rebuild_marker(domain: str) -> str:
    """String: token of the rebuild of `cti_exten@<domain>` in progress (its aside keys below)."""
    return f"fscti:mirror:rebuilding@{domain}"


def disabled(domain: str) -> str:
    """Set: extensions that exist in SQL but are disabled (answered as unknown users)."""
    return f"fscti:disabled@{domain}"


# --- directory mirror internals (app/mirror/) ------------------------------------------------

def exten_pattern() -> str:
    """SCAN pattern matching every `cti_exten@<domain>` hash."""
    return "cti_exten@*"


def exten_domain(key: str) -> str:
    """The domain of a `cti_exten@<domain>` key name."""
    return key.partition("@")[2]


def exten_aside(domain: str) -> str:
    """Hash: `cti_exten@<domain>` being built by a rebuild, renamed over the live one at the end."""
    return f"fscti:rebuild:exten@{domain}"


def alias_aside(domain: str) -> str:
    """Hash: the alias index being built by a rebuild."""
    return f"fscti:rebuild:alias@{domain}"


def disabled_aside(domain: str) -> str:
    """Set: the disabled set being built by a rebuild."""
    return f"fscti:rebuild:disabled@{domain}"


def mirror_touched(domain: str) -> str:
    """Set: extensions written by the API during a rebuild (the rebuild must not overwrite them)."""
    return f"fscti:rebuild:touched@{domain}"


def mirror_seq(domain: str) -> str:
    """String: counter bumped by every mirror write of a domain (compare-and-set for repairs)."""
    return f"fscti:mirror:seq@{domain}"


# --- the per-host replicas of the directory (app/replica/, docs/freeswitch.md §7.1) ----------
def replica_feed() -> str:
    """Stream: one entry per mirror change (what changed, never the values), XADDed by the
    mirror's scripts in the same atomic call as the write; each host's replica tails it."""
    return "fscti:replica:feed"


def replica_counter() -> str:
    """String: the number of the last feed entry (each entry carries its number `n`)."""
    return "fscti:replica:n"


def replica_epoch() -> str:
    """String: a token set once (NX) by the first replica to fill; gone or changed = Redis lost
    its data, and every replica refills."""
    return "fscti:replica:epoch"


def replica_hosts() -> str:
    """Set: the lease key of every host that ever ran a replica (a writer waits for the live ones)."""
    return "fscti:replica:hosts"


def replica_lease(host: str) -> str:
    """String with an expiry (the lease): the feed number this host's replica has applied."""
    return f"fscti:replica:lease@{host}"


# --- live registration and call state (app/state/) ----------------------------------------
# Canonical records (merged monotonically by app/state/lua/*.lua); the SPEC-shaped outputs
# (`cti_userinfo@<domain>`, the `gui` hashes) are recomputed from them. What the records'
# short field names mean: app/state/lua/FIELDS.md. Records name their owner (domain,
# extension, node), never a key: the script derives key names from the prefixes below.

def channel_prefix() -> str:
    """Prefix of `channel(uuid)`; the Lua scripts append a uuid to it (and nothing else)."""
    return "fscti:chan:"


def channel(uuid: str) -> str:
    """String: JSON canonical record of one channel (leg); a tombstone with a TTL once hung up."""
    return f"{channel_prefix()}{uuid}"


def call_state_prefix() -> str:
    """Prefix of `call_state(domain)`; the state script appends a domain to it."""
    return "fscti:xcall@"


def call_state(domain: str) -> str:
    """Hash: field = extension, value = JSON {live: {uuid: 1}, lh: last hung-up leg, pv}."""
    return f"{call_state_prefix()}{domain}"


def reg_state_prefix() -> str:
    """Prefix of `reg_state(domain)`; the state script appends a domain to it."""
    return "fscti:xreg@"


def reg_state(domain: str) -> str:
    """Hash: field = extension, value = JSON of the extension's bindings and their tombstones;
    beside it, fields `<ext>\\t<binding>\\tev|dev` (event texts) and `<ext>\\tui` (cached part)."""
    return f"{reg_state_prefix()}{domain}"


def node(name: str) -> str:
    """Hash: one FreeSWITCH node's Core-UUID (+ its stamp), clock offset, last heartbeat, resync."""
    return f"fscti:node:{name}"


def nodes() -> str:
    """Set: names of the FreeSWITCH nodes events were ever received from."""
    return "fscti:nodes"


def node_channels(name: str) -> str:
    """Sorted set: live, owned channels of a node; member = uuid, score = last event time (µs)."""
    return f"fscti:node-chans:{name}"


def node_bindings_prefix() -> str:
    """Prefix of `node_bindings(name)`; the state script appends a node name to it."""
    return "fscti:node-regs:"


def node_bindings(name: str) -> str:
    """Sorted set: live bindings of a node; member = `binding_member(...)`, score = stored
    expiry (µs, FreeSWITCH clock)."""
    return f"{node_bindings_prefix()}{name}"


def binding_member(domain: str, ext: str, node: str, profile: str, call_id: str) -> str:
    """A `node_bindings` member: domain, extension, node, profile, call-id, tab-separated."""
    return f"{domain}\t{ext}\t{node}\t{profile}\t{call_id}"


def job_result(job_uuid: str) -> str:
    """List: JSON result(s) of one bgapi job, from its BACKGROUND_JOB event (read by actions)."""
    return f"fscti:job:{job_uuid}"


def job_seen(job_uuid: str) -> str:
    """String: marker so a duplicated BACKGROUND_JOB event is stored once."""
    return f"fscti:job-seen:{job_uuid}"


def gui_registration_hash(gui: dict) -> str:
    """Hash named by `gui.registration.hash` (mod_cti contract); "" = off."""
    return str(gui["registration"].get("hash") or "")


def gui_registration_channel(gui: dict) -> str:
    """Pub/sub channel named by `gui.registration.channel`; "" = off."""
    return str(gui["registration"].get("channel") or "")


def gui_registration_list(gui: dict) -> str:
    """List named by `gui.registration.list`; "" = off."""
    return str(gui["registration"].get("list") or "")


def gui_call_hash(gui: dict) -> str:
    """Hash named by `gui.call.hash` (mod_cti contract); "" = off."""
    return str(gui["call"].get("hash") or "")


def gui_call_channel(gui: dict) -> str:
    """Pub/sub channel named by `gui.call.channel`; "" = off."""
    return str(gui["call"].get("channel") or "")


def gui_call_list(gui: dict) -> str:
    """List named by `gui.call.list`; "" = off."""
    return str(gui["call"].get("list") or "")


def state_tick(job: str) -> str:
    """String with a TTL: `job` of the state's beat tick ran recently (sweep, resync-<node>)."""
    return f"fscti:state:tick:{job}"


def generation() -> str:
    """Hash: this Redis's data generation (app/state/generation.py): `id`, `run_id` of the server
    that holds it, `state` (ok | healing), `reason`, `since`, `heal_until`, `healed_at`. Its
    absence means Redis lost its data; a new `run_id` means the server restarted (or failed
    over) with its data."""
    return "fscti:generation"


def quiet(what: str) -> str:
    """String with a TTL: a repeated warning about `what` was logged recently (app/quiet.py)."""
    return f"fscti:quiet:{what}"


def listener_status(node: str) -> str:
    """String: the listener's JSON status for one FreeSWITCH node (counters, lag, Core-UUID)."""
    return f"fscti:listener@{node}"


# --- several listeners: who reads which node (app/state/lease.py) ---------------------------

def node_lease(name: str) -> str:
    """String with a TTL (PX): JSON {owner, token} of the listener that reads node `name` now."""
    return f"fscti:lease:{name}"


def node_fence(name: str) -> str:
    """String: counter INCR'd at each acquisition of `node_lease(name)`: the lease's token, and
    the value an ingest batch's token must equal for the state script to apply it."""
    return f"fscti:fence:{name}"


def listeners() -> str:
    """Sorted set: live listener ids, score = when its heartbeat runs out (ms, Redis clock)."""
    return "fscti:listeners"


# --- the console's change feed (app/console/) ----------------------------------------------

def console_prefix() -> str:
    """Prefix of `console_changes(domain)`; the state script appends a domain to it."""
    return "fscti:console@"


def console_changes(domain: str) -> str:
    """Pub/sub channel: after each state batch, `<seq>\\t<ext>\\t<ext>...`, the extensions of
    `domain` whose `cti_userinfo@` value was recomputed (read them there)."""
    return f"{console_prefix()}{domain}"


def console_seq_prefix() -> str:
    """Prefix of `console_seq(domain)`; the state script appends a domain to it."""
    return "fscti:console:seq@"


def console_seq(domain: str) -> str:
    """String: counter bumped with each `console_changes(domain)` message (its `<seq>`)."""
    return f"{console_seq_prefix()}{domain}"


def reserved_prefixes() -> tuple[str, ...]:
    """Name prefixes of the keys fscti writes itself (the directory mirror, `cti_userinfo@`,
    `fscti:`): a configured `gui` hash or list must not start with one."""
    return (exten(""), userinfo(""), "fscti:")


def reserved_channel_prefixes() -> tuple[str, ...]:
    """Pub/sub names Redis itself uses (client-side caching invalidations, keyspace
    notifications) and fscti's own: a configured `gui` channel must not start with one."""
    return ("__redis__:", "__keyspace@", "__keyevent@", "fscti:")
