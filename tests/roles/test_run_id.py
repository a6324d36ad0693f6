"""collect.yml and analyze.yml run alone take -e httplab_run_id: only a plain folder name."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
BAD_IDS = ["../../etc", "/etc", ".hidden", "run\nid", "a/b"]


def _playbook(name: str, run_id: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    bin_dir = Path(sys.executable).parent
    extra = json.dumps({"httplab_run_id": run_id, "httplab_results_dir": str(tmp_path)})
    return subprocess.run(
        [str(bin_dir / "ansible-playbook"), "-i", "localhost,", f"playbooks/{name}", "-e", extra],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"},
    )


@pytest.mark.parametrize("playbook", ["collect.yml", "analyze.yml"])
@pytest.mark.parametrize("run_id", BAD_IDS, ids=repr)
def test_a_run_id_that_is_not_a_folder_name_is_refused(playbook, run_id, tmp_path):
    done = _playbook(playbook, run_id, tmp_path)
    assert done.returncode != 0
    assert "must be a run folder's name" in done.stdout, done.stdout[-2000:]
