"""Tables built from a manifest."""

from analysis.naming import order_stacks, stack_colours, use_stacks
from analysis.tables import device_row, device_table, stacks_table


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


def stack(name: str, framework: str, server: str, **more: object) -> dict:
    versions = {"flask": "3.1.2", "django": "5.2.8", "gunicorn": "23.0.0", "gevent": "25.9.1",
                "granian": "2.5.7", "starlette": "0.49.1", "uvicorn": "0.38.0"}  # fmt: skip
    return {"name": name, "framework": framework, "server": server, "protocol": "wsgi",
            "workers": 2, "threads": "one at a time", "versions": versions, **more}  # fmt: skip


def test_the_stack_table_groups_by_framework_then_server_with_each_stacks_versions():
    manifest = {"stacks": [
        stack("flask-gunicorn", "flask", "gunicorn", server_packages=["gunicorn"]),
        stack("django-granian", "django", "granian-wsgi", server_packages=["granian"]),
        stack("flask-gevent", "flask", "gunicorn-gevent", server_packages=["gunicorn", "gevent"]),
        stack("django-gunicorn", "django", "gunicorn", server_packages=["gunicorn"]),
        stack("shop-uvicorn", "starlette", "uvicorn-workers", own_app=True),
    ]}  # fmt: skip
    table = stacks_table(manifest)
    assert table is not None
    assert [row[0] for row in table.rows] == [
        "flask-gunicorn", "flask-gevent", "django-gunicorn", "django-granian", "shop-uvicorn"
    ]  # fmt: skip
    rows = {row[0]: row for row in table.rows}
    assert rows["flask-gevent"][6] == "flask 3.1.2, gunicorn 23.0.0, gevent 25.9.1"
    assert rows["django-granian"][6] == "django 5.2.8, granian 2.5.7"
    # A run that did not record the server's packages: the kind's name says the package.
    assert rows["shop-uvicorn"][6] == "starlette 0.49.1, uvicorn 0.38.0"
    assert rows["shop-uvicorn"][1] == "starlette (yours)"
    assert stacks_table({"hosts": {}}) is None


def test_every_output_orders_the_stacks_of_the_run_being_reported():
    use_stacks([stack("b-one", "bee", "one"), stack("a-two", "ay", "two"),
                stack("b-two", "bee", "two")])  # fmt: skip
    try:
        assert order_stacks(["a-two", "b-two", "b-one", "zz"]) == ["b-one", "b-two", "a-two", "zz"]
        colours = stack_colours(["a-two", "b-one"])
        assert colours["b-one"] != colours["a-two"]
    finally:
        use_stacks([])
