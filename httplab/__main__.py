from httplab.cli import run

run()
