"""Honest across hardware: which runs share a machine, and a whole-run difference between
machines whose interval includes run-to-run drift, checked on simulated studies."""

import json

import numpy as np
import pandas as pd

from analysis.hardware import differences, hardware, whole_run
from httplab.cli import main
from tests.analysis.simulate import HARDWARE_EFFECT, hardware_studies, repetition_means
from tests.analysis.synthetic import host_facts, recollect, write_run


def manifest(server_cpu: str, name: str = "server", address: str = "10.0.0.1") -> dict:
    server = host_facts(name, server_cpu) | {"address": address, "architecture": "x86_64"}
    return {"hosts": {"server": server, "clients": {"c": host_facts("client", "Intel")}}}


def test_runs_share_hardware_when_their_hosts_facts_agree_whatever_their_names():
    a = manifest("AMD EPYC 7B13")
    assert hardware(a) == hardware(manifest("AMD EPYC 7B13", "lab2-server", "10.9.9.9"))
    b = manifest("Intel(R) Xeon(R) CPU @ 2.20GHz")
    assert hardware(a) != hardware(b)
    assert differences(a, b) == [
        "server cpu_model: AMD EPYC 7B13 vs Intel(R) Xeon(R) CPU @ 2.20GHz"
    ]


def runs(rng: np.random.Generator, count: int, factor: float) -> list[dict]:
    """``count`` runs of four cells, each run off by its own drift."""
    keys = [("constant", f"s{i}", "GET") for i in range(4)]
    return [
        {key: repetition_means(rng, 0.003 * factor * drift, 5, 200) for key in keys}
        for drift in np.exp(rng.normal(0, 0.07, count))
    ]


def test_one_run_per_machine_cannot_tell_hardware_from_drift_unless_pairs_measure_it():
    rng = np.random.default_rng(1)
    alone = whole_run(runs(rng, 1, 1.0), runs(rng, 1, 1.3))
    assert not alone.told and not alone.called and alone.pct > 0
    assert "one run per side cannot tell hardware from run-to-run drift" in alone.words("a", "b")
    pairs = [tuple(runs(rng, 2, 1.0)) for _ in range(4)]
    paired = whole_run(runs(rng, 1, 1.0), runs(rng, 1, 1.3), pairs)
    assert paired.told and paired.method.endswith("4 same-hardware pair(s)")
    assert paired.low_pct < paired.pct < paired.high_pct
    several = whole_run(runs(rng, 3, 1.0), runs(rng, 3, 1.3))
    assert several.method.startswith("Welch t over the runs' levels")


def test_simulated_studies_meet_issue_26s_criteria():
    """True effect 20%, drift SD 10% of the log ratio (benchmarks/cross_hardware.py prints the
    same figures, from every request of more studies)."""
    two = hardware_studies(2026, 1000, 2, HARDWARE_EFFECT, requests=False)
    assert two.told == 1.0 and two.coverage >= 0.90
    three = hardware_studies(2027, 2000, 3, HARDWARE_EFFECT, requests=False)
    assert three.coverage >= 0.90 and three.excludes_zero >= 0.5
    for runs_per_side in (2, 3):
        none = hardware_studies(2028, 2000, runs_per_side, 0.0, requests=False)
        assert none.excludes_zero <= 0.05
    # Without the drift in its interval, a comparison of one run per side would call most
    # equal machines different: why it gives none.
    assert hardware_studies(2029, 200, 1, 0.0, requests=False).told == 0.0


def slower(root, factor: float) -> None:
    for csv in root.glob("*/*/*.csv"):
        frame = pd.read_csv(csv)
        frame["Execution Time (seconds)"] *= factor
        recollect(root, str(csv.relative_to(root)), frame.to_csv(index=False))


def test_compare_leads_with_the_hardware_and_each_runs_fastest(tmp_path, capsys):
    stacks = ("flask-gunicorn", "django-gunicorn", "fastapi-uvicorn")
    options = {"rows": 60, "repetitions": 3, "stacks": stacks, "modes": ("constant",)}
    laptop = write_run(tmp_path / "laptop", seed=3, **options)
    server = write_run(tmp_path / "server", seed=4, cpu="AMD EPYC 7B13", **options)
    slower(server, 1.3)
    out = tmp_path / "cmp"
    assert main(["compare", str(laptop), str(server), "--out", str(out)]) == 0
    said = capsys.readouterr().err
    assert "Verdict:\n  server 30." in said and "one run per side cannot tell" in said
    verdict = json.loads((out / "verdict.json").read_text())
    (machine,) = verdict["hardware"]
    assert machine["differences"][0].startswith("server cpu_model: Intel")
    assert machine["low_pct"] is None  # no interval: null in strict JSON
    html = (out / "index.html").read_text()
    assert html.index("Verdict") < html.index("cannot tell hardware from run-to-run drift")
    assert "constant · GET" in html and "Fastest in every run" in html
    # Two runs of one machine, back to back, measure the drift the comparison lacked.
    again = write_run(tmp_path / "again", seed=5, **options)
    out2 = tmp_path / "cmp2"
    assert main(["compare", str(laptop), str(server), "--out", str(out2),
                 "--same-hardware", str(laptop), str(again)]) == 0  # fmt: skip
    (machine,) = json.loads((out2 / "verdict.json").read_text())["hardware"]
    assert machine["low_pct"] < machine["whole_run_pct"] < machine["high_pct"]
    assert "1 same-hardware pair(s)" in machine["method"]
    # A pair whose hosts differ is no same-hardware pair.
    assert main(["compare", str(laptop), str(server), "--out", str(out2),
                 "--same-hardware", str(laptop), str(server)]) == 2  # fmt: skip
    assert "their hosts differ" in capsys.readouterr().err
