"""Reference models of how Windows takes a command line apart, for the tests.

No Windows host is available to CI, so the Windows command lines are checked
twice: against exact expected strings, and by running them back through these
models of the documented parsers (the C runtime's CommandLineToArgvW,
cmd.exe's %-expansion and caret phases, PowerShell's single-quoted strings and
its legacy native-argument passing, Win32-OpenSSH's quoting of the command for
``powershell -c``). The models are written from the documentation, independent
of the code under test.
"""

from __future__ import annotations

import re

WHITESPACE = " \t"


def split_msvcrt(line: str) -> list[str]:
    """CommandLineToArgvW / the post-2008 C runtime."""
    args: list[str] = []
    i, n = 0, len(line)
    while True:
        while i < n and line[i] in WHITESPACE:
            i += 1
        if i >= n:
            return args
        arg: list[str] = []
        in_quotes = False
        while i < n and (in_quotes or line[i] not in WHITESPACE):
            char = line[i]
            if char == "\\":
                j = i
                while j < n and line[j] == "\\":
                    j += 1
                count = j - i
                if j < n and line[j] == '"':
                    arg.append("\\" * (count // 2))
                    if count % 2:
                        arg.append('"')
                        j += 1
                else:
                    arg.append("\\" * count)
                i = j
            elif char == '"':
                if in_quotes and i + 1 < n and line[i + 1] == '"':
                    arg.append('"')
                    i += 2
                else:
                    in_quotes = not in_quotes
                    i += 1
            else:
                arg.append(char)
                i += 1
        args.append("".join(arg))


class CmdSyntaxError(ValueError):
    """cmd.exe would have treated a character as an operator."""


def cmd_expand(line: str, env: dict[str, str]) -> str:
    """cmd.exe phase 1 on a /c command line: %NAME% expands when NAME is set."""
    out: list[str] = []
    i = 0
    upper_env = {k.upper(): v for k, v in env.items()}
    while i < len(line):
        if line[i] == "%":
            end = line.find("%", i + 1)
            if end != -1 and line[i + 1 : end].upper() in upper_env:
                out.append(upper_env[line[i + 1 : end].upper()])
                i = end + 1
                continue
        out.append(line[i])
        i += 1
    return "".join(out)


def cmd_commands(line: str, env: dict[str, str]) -> list[str]:
    """cmd.exe /c: expand, then split at && and drop escaping carets (phase 2).

    Returns the command lines the && chain runs. An unescaped operator other
    than && outside quotes raises CmdSyntaxError.
    """
    text = cmd_expand(line, env)
    commands: list[str] = []
    current: list[str] = []
    in_quotes = False
    i = 0
    while i < len(text):
        char = text[i]
        if char == '"':
            in_quotes = not in_quotes
            current.append(char)
        elif in_quotes:
            current.append(char)
        elif char == "^":
            i += 1
            if i < len(text):
                current.append(text[i])
        elif text.startswith("&&", i):
            commands.append("".join(current).strip())
            current = []
            i += 1
        elif char in "&|<>()":
            raise CmdSyntaxError(f"unescaped {char!r} at {i} in {text!r}")
        else:
            current.append(char)
        i += 1
    commands.append("".join(current).strip())
    return commands


def cmd_slash_c(sshd_command: str) -> str:
    """Win32-OpenSSH runs ``"cmd.exe" /c "<command>"``; /c strips the outer quotes."""
    wrapped = f'"{sshd_command}"'
    return wrapped[1 : wrapped.rindex('"')]


def sshd_powershell_argument(command: str) -> str:
    """What powershell.exe receives after ``-c``.

    Win32-OpenSSH (build_commandline_string) quotes the command unless it
    starts with a single quote, backslash-escapes double quotes, doubles
    backslashes before a quote; powershell.exe splits its command line with
    the C runtime rules and joins the words after -c with spaces.
    """
    escaped = re.sub(r'(\\*)"', lambda m: m.group(1) * 2 + '\\"', command)
    if not command.startswith("'") and " " in command:
        escaped = f'"{escaped}"'
    line = f'"C:\\Windows\\System32\\WindowsPowerShell\\v1.0\\powershell.exe" -c {escaped}'
    return " ".join(split_msvcrt(line)[2:])


_PS_QUOTES = "'\u2018\u2019\u201a\u201b"


def ps_call_arguments(script: str) -> tuple[str, list[str], str | None]:
    """Parse our PowerShell shape: ``Set-Location -LiteralPath 'x'; try { & 'prog' 'a' } ...``.

    Returns (program, arguments, cwd). Only single-quoted literals are
    accepted as words between ``&`` and the closing brace, so anything else
    in the call is an error.
    """
    statements = _ps_statements(script)
    cwd = None
    for words in statements:
        if words[:2] == ["Set-Location", "-LiteralPath"]:
            cwd = _ps_literal_value(words[2])
        if "&" in words:
            call = words[words.index("&") + 1 :]
            call = call[: call.index("}")] if "}" in call else call
            literals = [_ps_literal_value(word) for word in call]
            return literals[0], literals[1:], cwd
    raise AssertionError(f"no call statement in {script!r}")


def _ps_statements(script: str) -> list[list[str]]:
    statements: list[list[str]] = [[]]
    i = 0
    while i < len(script):
        char = script[i]
        if char in _PS_QUOTES:
            j = i + 1
            while True:
                if j >= len(script):
                    raise AssertionError(f"unterminated string in {script!r}")
                if script[j] in _PS_QUOTES:
                    if j + 1 < len(script) and script[j + 1] in _PS_QUOTES:
                        j += 2
                        continue
                    break
                j += 1
            statements[-1].append(script[i : j + 1])
            i = j + 1
        elif char == ";":
            statements.append([])
            i += 1
        elif char.isspace():
            i += 1
        else:
            j = i
            while j < len(script) and not script[j].isspace() and script[j] != ";":
                j += 1
            statements[-1].append(script[i:j])
            i = j
    return [words for words in statements if words]


def _ps_literal_value(word: str) -> str:
    if word[0] not in _PS_QUOTES or word[-1] not in _PS_QUOTES:
        raise AssertionError(f"not a single-quoted literal: {word!r}")
    body = word[1:-1]
    return re.sub(f"([{_PS_QUOTES}])[{_PS_QUOTES}]", r"\1", body)


def _ps_need_quotes(arg: str) -> bool:
    # NativeCommandParameterBinder.NeedQuotes: whitespace outside unescaped quotes.
    quotes = 0
    following_backslash = False
    for char in arg:
        if char == '"' and not following_backslash:
            quotes += 1
        elif char.isspace() and quotes % 2 == 0:
            return True
        following_backslash = char == "\\"
    return False


def ps_legacy_command_line(program: str, args: list[str], *, version: int) -> str:
    """The command line PowerShell builds for a native program in legacy mode.

    version 5 is Windows PowerShell 5.1; version 7 adds the doubling of
    trailing backslashes inside the quotes it adds. Both drop empty strings.
    """
    parts = [f'"{program}"' if " " in program else program]
    for arg in args:
        if not arg:
            continue
        if _ps_need_quotes(arg):
            trailing = len(arg) - len(arg.rstrip("\\")) if version >= 7 else 0
            parts.append('"' + arg + "\\" * trailing + '"')
        else:
            parts.append(arg)
    return " ".join(parts)
