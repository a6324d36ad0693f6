"""`httplab_database_needed`: whether a run's requests need the database, for the playbooks.

    httplab_database_enabled: >-
      {{ httplab_bench_requests | httplab_database_needed(httplab_bench_db_concurrency,
         httplab_requests | default([])) }}

(inventory/group_vars/all/database.yml). The decision itself is Python's, in one place:
orchestrator/workloads.py (database_needed_for), which `httplab` uses too.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from ansible.errors import AnsibleFilterError

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:  # the checkout's own packages, wherever Ansible runs from
    sys.path.insert(0, str(ROOT))

from bench_client.settings import SettingError  # noqa: E402
from orchestrator.workloads import database_needed_for  # noqa: E402


def httplab_database_needed(requests: Any, levels: Any = None, declared: Any = None) -> bool:
    try:
        return database_needed_for(requests, levels, declared)
    except SettingError as error:
        raise AnsibleFilterError(str(error)) from None


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {"httplab_database_needed": httplab_database_needed}
