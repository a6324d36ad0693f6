"""The unit template: systemd's specifier character is escaped, and the network and resource
directives carry the role's values (what the stacks under test here run with)."""

from __future__ import annotations

from pathlib import Path

from tests.apps.conftest import load_stacks, render_unit


def test_a_percent_sign_stays_a_percent_sign() -> None:
    stack = {**load_stacks()[1], "module": "apps.flask_app:app%n"}
    unit = render_unit(stack, Path("/venv"), 5001, access_log=False)
    exec_start = next(line for line in unit.splitlines() if line.startswith("ExecStart="))
    assert exec_start.endswith("apps.flask_app:app%%n")


def test_the_unit_allows_only_localhost_binds_only_its_port_and_is_capped() -> None:
    unit = render_unit(load_stacks()[1], Path("/venv"), 5001, access_log=False).splitlines()
    assert "IPAddressDeny=any" in unit
    assert "IPAddressAllow=localhost" in unit  # no clients in this rendering
    assert "SocketBindAllow=tcp:5001" in unit and "SocketBindDeny=any" in unit
    assert "MemoryMax=50%" in unit and "TasksMax=512" in unit
