"""The SQL → Redis mirror of the directory: writes, rebuild, reconcile and repairs (see docs/freeswitch.md §6)."""
