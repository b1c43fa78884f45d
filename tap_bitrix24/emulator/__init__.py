"""A local Bitrix24 REST portal: the tap's test bed and a demo portal.

``EmulatorServer`` serves ``crm.activity.*``, ``batch``, webhook and OAuth auth, the two rate
limits and scripted faults, over deterministic data (see README.md in this package).
"""

from .portal import Portal
from .server import EmulatorServer

__all__ = ["EmulatorServer", "Portal"]
