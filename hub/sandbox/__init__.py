"""Simulated department systems (模拟部门系统) on loopback for the demo and the tests.

Each system is a real HTTP server with its own SQLite file, speaking the protocol of the
system it imitates (Weaver SOAP, Seeyon REST, Tongda database, Hebei network SOAP, hotline
REST), plus a control API under ``/_sandbox/`` to act like the department and to misbehave.
"""

from hub.sandbox.runner import DEFAULT_PORTS, SYSTEMS, Sandbox, running_sandbox

__all__ = ["DEFAULT_PORTS", "SYSTEMS", "Sandbox", "running_sandbox"]
