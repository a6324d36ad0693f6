import sys

from httplab.cli import main

sys.exit(main())
