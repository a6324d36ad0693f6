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


def test_the_database_reaches_a_unit_only_when_enabled(monkeypatch) -> None:
    """Off (the default) the unit is as it was; on, it reads the database's env file, gets
    its processes' pool size, and may reach a database host of its own."""
    import tests.apps.conftest as conftest

    stack = load_stacks()[1]
    off = render_unit(stack, Path("/venv"), 5001, access_log=False)
    assert "postgres.env" not in off and "HTTPLAB_DB_POOL_SIZE" not in off
    defaults = conftest.role_defaults()
    database = {
        "httplab_database_enabled": True,
        "httplab_database_env_file": "/opt/httplab/secrets/postgres.env",
        "httplab_database_allowed_addresses": ["192.0.2.30"],
    }
    monkeypatch.setattr(conftest, "role_defaults", lambda: {**defaults, **database})
    on = render_unit(stack, Path("/venv"), 5001, access_log=False).splitlines()
    assert "EnvironmentFile=/opt/httplab/secrets/postgres.env" in on
    assert f"Environment=HTTPLAB_DB_POOL_SIZE={stack['db_pool_size']}" in on
    assert "IPAddressAllow=localhost 192.0.2.30" in on
