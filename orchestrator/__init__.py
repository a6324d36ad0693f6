"""The control node's side of a benchmark run: the plan, the manifest, resuming.

The playbooks in ``playbooks/`` call ``python -m orchestrator`` once per step so
that Ansible shows progress measurement by measurement, while the bookkeeping
that must be exact (seeded order, checksums, atomic manifest) lives here.
"""
