"""FreeSWITCH event socket: validated command builders and bounded python-ESL connections.

- `app.esl.commands`   one whitelisted builder per command (ApiCommand / SocketCommand);
                       call control in `app.esl.supervisor_commands`, the types and the
                       whitelists in `app.esl.command_types`.
- `app.esl.connection` EslClient: one command connection (api, bgapi, sendevent, command).
- `app.esl.pool`       esl_pool(): per-process cache of command connections per node.
- `app.esl.errors`     EslUnavailable (retry), EslAuthFailed (a kind of it), EslCommandError (don't).
- `app.esl.stream`     EventStream: the event connection the listener reads (JSON frames).
- `app.esl.connect`, `app.esl.watchdog`: how connect/auth and every call are time-bounded.
"""
