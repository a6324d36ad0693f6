import sys

from orchestrator.remote.cli import main

sys.exit(main())
