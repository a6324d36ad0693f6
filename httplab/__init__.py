"""httplab's one command line: `httplab COMMAND ...` (also `python -m httplab`)."""
