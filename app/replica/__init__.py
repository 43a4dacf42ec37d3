"""The per-host replica of the directory mirror (docs/freeswitch.md §7.1).

One LMDB file per host holds what /directory's lookup script reads from Redis (the domain
entries, `cti_exten@<domain>`, the alias index, the disabled sets), so the common lookup needs
no Redis round trip. One process per host writes it (Procfile `replica`, workers/replica.py):
it fills the file from Redis, then tails the mirror's change feed (a stream its scripts XADD to
in the same atomic call as each write) and re-reads what each entry names. It records the feed
number it has applied in a per-host lease key; the mirror's fence waits for every live lease
(fence.py). The web workers trust the file only until the lease expiry stored in it
(store.py), which always comes before Redis drops the lease: a host whose replica stopped is
never waited for and never served from.
"""
