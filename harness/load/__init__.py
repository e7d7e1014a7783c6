"""The load generator's side that the orchestrator and the checker use.

The locustfile (``harness/load/locustfile.py``) runs inside ``locust`` subprocesses; this
package only builds their command lines and reads and writes the history they record. Nothing
here imports Locust or gevent.
"""

from harness.load.command import LOCUSTFILE, locust_command, locust_commands, locust_env
from harness.load.history import EventType, HistoryWriter, Op, history_files, iter_events
from harness.load.shape import LoadShape

__all__ = [
    "LOCUSTFILE",
    "EventType",
    "HistoryWriter",
    "LoadShape",
    "Op",
    "history_files",
    "iter_events",
    "locust_command",
    "locust_commands",
    "locust_env",
]
