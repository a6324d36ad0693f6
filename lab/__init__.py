"""The embedded two-host lab: a systemd-booted server and a client container on one machine.

`python -m lab up|down|status|ssh` is the command line; `lab.api` is the Python interface
that tests and other tools use.
"""
