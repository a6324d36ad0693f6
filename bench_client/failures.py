"""Failures as the CSV's Error column shows them: short, one line, the same words on every OS."""

from __future__ import annotations

import errno
import http.client
import socket


class RequestFailed(Exception):
    """A request got no usable response; the message is what goes in the CSV's Error column."""


# Most specific first: RemoteDisconnected is a ConnectionResetError.
_REASONS: tuple[tuple[type[BaseException], str], ...] = (
    (http.client.RemoteDisconnected, "connection closed before any response"),
    (ConnectionRefusedError, "connection refused"),
    (ConnectionResetError, "connection reset"),
    (ConnectionAbortedError, "connection aborted"),
    (BrokenPipeError, "connection closed while sending"),
    (socket.gaierror, "cannot resolve host"),
)


# The client ran out of local ports: a limit of the client, not a server
# failure. Linux says EADDRNOTAVAIL on connect(); Windows says WSAEADDRINUSE
# (10048) or WSAENOBUFS (10055). limits.assess counts these.
OUT_OF_PORTS = "client out of local ports"
_OUT_OF_PORTS_ERRNOS = {errno.EADDRNOTAVAIL: "EADDRNOTAVAIL"}
_OUT_OF_PORTS_WINERRORS = {10048: "WSAEADDRINUSE", 10055: "WSAENOBUFS"}


def describe(exc: BaseException, timeout: float) -> str:
    """Name what went wrong, digging under the wrappers that requests and urllib3 add."""
    cause = _root_cause(exc)
    if isinstance(cause, OSError):
        code = _OUT_OF_PORTS_WINERRORS.get(getattr(cause, "winerror", None) or 0)
        code = code or _OUT_OF_PORTS_ERRNOS.get(cause.errno or 0)
        if code:
            return f"{OUT_OF_PORTS} ({code})"
    if isinstance(cause, TimeoutError):
        return f"timeout after {timeout:g} s"
    for kind, reason in _REASONS:
        if isinstance(cause, kind):
            return reason
    message = " ".join(str(cause).split())[:200]
    if type(cause) is ConnectionError and message:
        return message  # our own parser's words, e.g. "connection closed in the middle ..."
    return f"{type(cause).__name__}: {message}" if message else type(cause).__name__


def _root_cause(exc: BaseException) -> BaseException:
    """The innermost OS-level error, or the exception itself when there is none."""
    seen: set[int] = set()
    pending: list[BaseException] = [exc]
    while pending:
        current = pending.pop(0)
        if id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, OSError) and not _is_wrapper(current):
            return current
        pending += [e for e in (current.__cause__, current.__context__) if e is not None]
        pending += [a for a in current.args if isinstance(a, BaseException)]
        reason = getattr(current, "reason", None)
        if isinstance(reason, BaseException):
            pending.append(reason)
    return exc


def _is_wrapper(exc: OSError) -> bool:
    """requests' and urllib3's exceptions subclass OSError but only wrap the real one."""
    module = type(exc).__module__
    return module.startswith(("requests", "urllib3"))
