"""The two ways talking to FreeSWITCH can fail: retry later, or give up now."""


class EslError(Exception):
    """Base class of event-socket errors."""


class EslUnavailable(EslError):
    """Retryable: refused, timed out, greeting or auth failed, disconnected mid-command."""


class EslAuthFailed(EslUnavailable):
    """FreeSWITCH refused the event-socket password (`-ERR invalid`); retryable after a fix."""


class EslCommandError(EslError):
    """Permanent: FreeSWITCH answered the command with `-ERR ...` (or `-USAGE`); `reply` has the text."""

    def __init__(self, command: str, reply: str):
        self.command = str(command)
        self.reply = reply
        super().__init__(f"{self.command.split(' ', 1)[0]}: {reply.strip()}")
