"""Tables built from a manifest."""

from analysis.tables import device_table


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
