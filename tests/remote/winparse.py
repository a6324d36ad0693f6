"""Reference models of how Windows takes a command line apart, for the tests.

No Windows host is available to CI, so the Windows command lines are checked
twice: against exact expected strings, and by running them back through these
models of the documented parsers (the C runtime's CommandLineToArgvW,
cmd.exe's %-expansion and caret phases, PowerShell's single-quoted strings,
.NET's Process.Start command line, and Win32-OpenSSH's command line for each
shell in tests/windows/openssh_cmdline.py). The models are written from the
documentation, independent of the code under test. tests/windows runs the
same command lines through Wine's cmd.exe and C runtime; the cases where Wine
and this model disagreed are written down in docs/traps.md.
"""

from __future__ import annotations

import base64
import re

from tests.windows import openssh_cmdline

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


# %NAME%, %NAME:~start[,length]% (cmd reads the numbers and ignores what
# follows them up to the %), %NAME:old=new%.
_CMD_VARIABLE = re.compile(r"%([^%:]+)(?::~(-?\d+)(?:,(-?\d+))?[^%]*|:([^%=]*)=([^%]*))?%")


def cmd_expand(line: str, env: dict[str, str]) -> str:
    """cmd.exe phase 1 on a /c command line, before carets are looked at.

    %NAME%, %NAME:~n,m% and %NAME:old=new% expand when NAME is set; an
    unset name leaves the text as it is, and the scan goes on at its closing %.
    """
    upper_env = {k.upper(): v for k, v in env.items()}
    out: list[str] = []
    i = 0
    while i < len(line):
        match = _CMD_VARIABLE.match(line, i) if line[i] == "%" else None
        if match is None or match.group(1).upper() not in upper_env:
            out.append(line[i])
            i += 1
            continue
        value = upper_env[match.group(1).upper()]
        start, length, old, new = match.group(2, 3, 4, 5)
        if start is not None:
            begin = int(start) if int(start) >= 0 else max(0, len(value) + int(start))
            value = value[begin:]
            if length is not None:
                value = value[: int(length)]  # a negative length drops from the end
        elif old:
            value = re.compile(re.escape(old), re.IGNORECASE).sub(new.replace("\\", r"\\"), value)
        out.append(value)
        i = match.end()
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


def cmd_slash_c(command: str, version: str) -> str:
    """What cmd.exe runs after ``/c`` for an sshd ``version`` (openssh_cmdline.VERSIONS).

    7.7.2 and later wrap the command in quotes; the 7.7.1.0 beta does not. When
    what follows /c starts with a quote, cmd.exe removes it and the line's last quote.
    """
    after_c = f'"{command}"' if openssh_cmdline.quotes_command(version) else command
    if after_c.startswith('"'):
        last = after_c.rindex('"')
        return after_c[1:last] + after_c[last + 1 :]
    return after_c


def sshd_powershell_argument(command: str, version: str) -> str:
    """What powershell.exe runs after ``-c``: the words of its command line, joined by spaces."""
    line = openssh_cmdline.session_command_line(openssh_cmdline.POWERSHELL, command, version)
    return " ".join(split_msvcrt(line)[2:])


_PS_QUOTES = "'\u2018\u2019\u201a\u201b"
_PS_ASSIGNMENT = re.compile(r"^\$start\.(\w+) = (.+)$")
_PS_ENCODED = re.compile(
    r"^iex\(\[Text\.Encoding\]::UTF8\.GetString\("
    r"\[Convert\]::FromBase64String\('([A-Za-z0-9+/=]*)'\)\)\)$"
)


def ps_decode_command(command: str) -> str:
    """The script inside our ``iex(...FromBase64String('...'))`` command."""
    match = _PS_ENCODED.match(command)
    if match is None:
        raise AssertionError(f"not an encoded PowerShell command: {command!r}")
    return base64.b64decode(match.group(1)).decode("utf-8")


def ps_process_start(script: str) -> dict[str, str]:
    """The ProcessStartInfo properties our script sets: FileName, Arguments, WorkingDirectory.

    Only single-quoted literals are accepted as values, so anything else
    (a variable, an expression) is an error.
    """
    properties: dict[str, str] = {}
    for line in script.splitlines():
        match = _PS_ASSIGNMENT.match(line)
        if match and match.group(1) != "UseShellExecute":
            properties[match.group(1)] = _ps_literal_value(match.group(2))
    return properties


def _ps_literal_value(word: str) -> str:
    if len(word) < 2 or word[0] not in _PS_QUOTES or word[-1] not in _PS_QUOTES:
        raise AssertionError(f"not a single-quoted literal: {word!r}")
    body = word[1:-1]
    if re.search(f"(?<![{_PS_QUOTES}])[{_PS_QUOTES}](?![{_PS_QUOTES}])", body.replace("''", "")):
        raise AssertionError(f"unescaped quote inside {word!r}")
    return re.sub(f"([{_PS_QUOTES}])[{_PS_QUOTES}]", r"\1", body)


def net_command_line(file_name: str, arguments: str) -> str:
    """The command line .NET's Process.Start gives CreateProcess (no shell execute)."""
    quoted = file_name if file_name.startswith('"') else f'"{file_name}"'
    return f"{quoted} {arguments}" if arguments else quoted
