# Wait until every URL answers 200: python3 wait_healthy.py SECONDS follow|refuse URL...
#
# The one /health waiter of httplab, stdlib only (a fresh server has nothing else): the
# role runs it after starting stacks and from the client hosts (SECONDS 0: one try, a
# redirect refused), and `httplab measure` runs it in each stack switch
# (orchestrator/stack_switch.py). The pending URLs are tried every 20 ms (a refused
# connection costs microseconds), so a stack is used as soon as it answers; the exit
# message names each URL that never did.
import sys
import time
import urllib.request

seconds, redirects, waiting = float(sys.argv[1]), sys.argv[2], sys.argv[3:]


class Refuse(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: object) -> None:
        return None  # the 3xx is raised as an HTTPError


opener = urllib.request.build_opener(*([Refuse] if redirects == "refuse" else []))
deadline = time.monotonic() + seconds
while True:
    problems = {}
    for url in waiting:
        try:
            with opener.open(url, timeout=5) as answer:
                if answer.status != 200:
                    problems[url] = f"status {answer.status}"
        except OSError as error:
            problems[url] = str(error)
    waiting = list(problems)
    if not waiting:
        sys.exit()
    if time.monotonic() >= deadline:
        said = "; ".join(f"{url}: {problem}" for url, problem in problems.items())
        sys.exit(f"no 200 within {seconds:g} s: {said}")
    time.sleep(0.02)
