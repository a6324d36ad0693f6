"""Tables built from a manifest."""

from analysis.tables import device_row, device_table


def test_device_table_reads_host_facts_as_ansible_writes_them():
    host = {
        "name": "srv",
        "cpu_model": "i7-5820K",
        "cpu_count": "12",
        "ram_mb": "32665",
        "os": "Ubuntu 22.04",
        "kernel": "5.15.0",
        "python": "3.10.12",
    }
    rows = {r[0]: r[1:] for r in device_table({"hosts": {"server": host, "client": {}}}).rows}
    assert rows["Processor"] == ["i7-5820K (12 CPUs)", "?"]
    assert rows["RAM"] == ["31.9 GB", "?"]  # 32665 MB, the paper's "31.9 GB"
    assert rows["Kernel"] == ["5.15.0", "?"]


def test_device_table_has_a_column_per_client_host():
    clients = {"c1": {"cpu_model": "Xeon", "cpu_count": 4}, "c2": {"cpu_model": "Ryzen"}}
    manifest = {"hosts": {"server": {"cpu_model": "EPYC"}, "clients": clients}}
    table = device_table(manifest)
    assert table.headers == ["Component", "Server", "Client c1", "Client c2"]
    rows = {r[0]: r[1:] for r in table.rows}
    assert rows["Processor"] == ["EPYC", "Xeon (4 CPUs)", "Ryzen"]
    # A comparison line names both clients' CPUs.
    assert device_row("r1", manifest)[4] == "Xeon (4 CPUs); Ryzen"


def test_device_table_reads_a_manifest_with_one_client_before_schema_3():
    table = device_table({"hosts": {"server": {}, "client": {"cpu_model": "i5"}}})
    assert table.headers == ["Component", "Server", "Client"]
    assert {r[0]: r[1:] for r in table.rows}["Processor"] == ["?", "i5"]
