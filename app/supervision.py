"""Supervision modes, named by who hears the supervisor, and the commands each one sends.

FreeSWITCH's variable names say the opposite of what they do (facts §0.7, §6.1): the
eavesdrop engine mixes the supervisor into the target T's streams, and
- `eavesdrop_whisper_bleg=true` starts in MUX_WRITE: **T itself** (our extension) hears;
- `eavesdrop_whisper_aleg=true` starts in MUX_READ: **T's peer** (the far end) hears.
The live keys are the same pairs: `2` = T hears, `1` = T's peer hears, `3` = both, `0` = nobody.
Barge runs `three_way`, which starts with both and ignores every `eavesdrop_*` variable
(and DTMF), but still obeys the `eavesdrop-command` event the API sends to switch modes.
The supervisor always hears both sides.
"""
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Mode:
    """One supervision mode: who hears the supervisor, how it starts, its live-switch key."""

    name: str
    hears: str              # nobody | extension | far_end | both
    app: str                # eavesdrop | three_way
    keys: str               # eavesdrop-command that switches a running supervision to it
    variables: dict = field(default_factory=dict)
    description: str = ""


MODES = {
    "listen": Mode("listen", "nobody", "eavesdrop", "0", {},
                   "the supervisor hears both sides; nobody hears the supervisor"),
    "whisper_extension": Mode("whisper_extension", "extension", "eavesdrop", "2",
                              {"eavesdrop_whisper_bleg": "true"},
                              "only the extension hears the supervisor (coaching)"),
    "whisper_far_end": Mode("whisper_far_end", "far_end", "eavesdrop", "1",
                            {"eavesdrop_whisper_aleg": "true"},
                            "only the extension's far end hears the supervisor"),
    "barge": Mode("barge", "both", "three_way", "3", {},
                  "both the extension and its far end hear the supervisor (three-way)"),
}
MODE_NAMES = tuple(MODES)
