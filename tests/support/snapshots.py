"""Resync snapshots built from the captured FreeSWITCH outputs, for the state tests.

snap(t) is what the resync task reads from a node at time t (µs): the captured
`sofia xmlstatus profile internal reg`, and no channels or calls unless given.
"""
from app.config import FreeSwitchNode
from tests.support.replay import NODE, api_output

CORE = "8050275d-5ad7-48bd-8327-686409e2b53c"
XML = api_output("api sofia xmlstatus profile internal reg")
T_REG = 1795670526_500000            # the xmlstatus capture: 05:22:06, after 1001/1002 registered
T_CALL = 1795670529_500000           # "call up 1001->1002" capture: 05:22:09
FS1 = FreeSwitchNode(NODE, "10.1.2.3", 8021, "ClueCon")


def snap(t, reg=XML, channels='{"row_count": 0}\n', calls='{"row_count": 0}\n', core=CORE):
    return {"core": core, "t": t, "offset": 0, "reg": {"internal": reg},
            "channels": channels, "calls": calls}
