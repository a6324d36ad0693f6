"""Through real SSH (a throwaway sshd): a sweep's steps, each fetched and verified as a cell."""

from __future__ import annotations

import hashlib
import json

from bench_client.request import BUILTIN
from bench_client.results_format import SWEEP_MODE, Measurement
from orchestrator.remote.guard import RemoteGuard
from orchestrator.remote.inventory import read_client
from orchestrator.remote.measure import MeasurementSpec, measure_together
from orchestrator.remote.session import open_session


def test_every_step_a_sweep_reaches_is_fetched_as_a_cell_of_its_own(
    deployed, inventory, contract_url, tmp_path
):
    out_dir = tmp_path / "results" / "run-sweep"
    settings = {"concurrency": 4, "processes": 1, "warmup": 0, "sweep_steps": 3,
                "sweep_start_rate": 40.0, "sweep_factor": 2.0,
                "sweep_step_seconds": 0.3}  # fmt: skip
    spec = MeasurementSpec(Measurement(SWEEP_MODE, "alpha", "POST"), contract_url, out_dir,
                           BUILTIN["POST"], settings)  # fmt: skip
    with open_session(read_client(inventory)) as session, RemoteGuard(session) as guard:
        fetched = measure_together(guard, [spec])
    assert 1 <= len(fetched) <= 3
    assert [f.measurement.step for f in fetched] == list(range(1, len(fetched) + 1))
    blocks = []
    for one in fetched:
        assert one.measurement.csv == f"sweep/alpha/POST.step{one.measurement.step}.csv"
        csv_path = out_dir / one.measurement.csv
        assert one.sha256_csv == hashlib.sha256(csv_path.read_bytes()).hexdigest()
        meta_path = out_dir / one.measurement.meta
        assert one.sha256_meta == hashlib.sha256(meta_path.read_bytes()).hexdigest()
        blocks.append(json.loads(meta_path.read_text())["sweep"])
    assert [b["step"] for b in blocks] == [f.measurement.step for f in fetched]
    assert blocks[-1]["stopped"] is not None
    assert all(b["stopped"] is None for b in blocks[:-1])
    # Nothing of another step is left behind under a cell's name.
    assert sorted(p.name for p in (out_dir / "sweep/alpha").iterdir()) == sorted(
        name for f in fetched for name in (f"POST.step{f.measurement.step}.csv",
                                           f"POST.step{f.measurement.step}.meta.json")
    )  # fmt: skip
