import sys

from bench_client.cli import main

sys.exit(main())
