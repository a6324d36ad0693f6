"""bench_client: an honest HTTP benchmark client for httplab (`python -m bench_client --help`).

Where things are:

- cli.py        the command line, exit codes
- config.py     one run's settings, checked before anything is sent
- modes.py      the four modes (what each means), the runner per mode, the run's phases
- timing.py     THE timing code: clock, measure(), sleeps; read this first
- engine_requests.py  constant mode: the paper's requests.get/post, no Session
- engine_socket.py    keepalive mode: blocking raw-socket HTTP/1.1 client
- engine_async.py     concurrent and rate modes: asyncio callbacks on raw sockets
- http11.py     request bytes and the response parser the raw engines share
- verify.py     what a correct response is (GET message, POST echo)
- failures.py   the words for each kind of failure
- limits.py     was the client the bottleneck? (CPU, loop lag, schedule slip)
- facts.py      client host facts and library versions
- meta.py       the PATH.meta.json document
- output.py     atomic CSV + meta writing
- calibrate.py  the client's own per-request cost, against refserver.py
- run.py        one run, start to finish
"""

__version__ = "1.0.0"
