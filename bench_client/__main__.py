import sys

from bench_client.cli import main
from bench_client.interrupts import raise_on_interrupt

# Ctrl-C writes what was measured, however the process was started (a background job
# starts with SIGINT ignored, and so would every process it starts).
raise_on_interrupt()
sys.exit(main())
