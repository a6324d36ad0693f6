"""Drive bench_client on the client host over SSH (Fabric): deploy it, run it, fetch results.

The benchmark playbook calls this once to deploy and once per measurement::

    python -m orchestrator.remote deploy  -i INVENTORY [--wheelhouse DIR | --index]
    python -m orchestrator.remote measure -i INVENTORY --stack NAME --url URL \\
        --mode MODE --method GET --out-dir results/RUN [client flags]

Connection settings come from the inventory's ``clients`` host; host keys are
checked against the inventory's known_hosts file. On success each command
prints one JSON line on stdout; progress and bench_client's own output go to
stderr behind a ``[host ...]`` prefix. On failure it prints a one-line
message naming host, stack and cause on stderr and exits non-zero.

The client may run Linux (any POSIX shell) or Windows with OpenSSH Server
(DefaultShell cmd.exe or PowerShell); bench_client_os / bench_client_shell in
the inventory skip the probe. Every remote command line is built by
orchestrator.remote.shell.build_command.
"""

from orchestrator.remote.deploy import DeployResult, deploy
from orchestrator.remote.errors import RemoteError
from orchestrator.remote.inventory import ClientHost, InventoryError, read_client
from orchestrator.remote.measure import (
    Fetched,
    MeasurementInterrupted,
    MeasurementSpec,
    measure,
)
from orchestrator.remote.session import RemoteSession, open_session

__all__ = [
    "ClientHost",
    "DeployResult",
    "Fetched",
    "InventoryError",
    "MeasurementInterrupted",
    "MeasurementSpec",
    "RemoteError",
    "RemoteSession",
    "deploy",
    "measure",
    "open_session",
    "read_client",
]
