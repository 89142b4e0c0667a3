"""Reading literal tokens: strings with their few escapes, numbers, durations."""

from __future__ import annotations

#: Seconds per duration unit; facts carry durations as float seconds.
DURATION_UNITS = {"s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
_ESCAPES = {'"': '"', "\\": "\\", "n": "\n", "t": "\t"}


def decode_string(token: str) -> str:
    r"""The value of a quoted string token.

    Only ``\"``, ``\\``, ``\n`` and ``\t`` are escapes; any other backslash is kept, so a regex like
    ``"\d+\.\d+"`` is written as it reads.
    """
    body = token[1:-1]
    if "\\" not in body:
        return body
    out: list[str] = []
    i = 0
    while i < len(body):
        char = body[i]
        if char == "\\" and i + 1 < len(body):
            nxt = body[i + 1]
            if nxt in _ESCAPES:
                out.append(_ESCAPES[nxt])
                i += 2
                continue
        out.append(char)
        i += 1
    return "".join(out)


def decode_number(token: str) -> int | float:
    return float(token) if "." in token else int(token)


def decode_duration(token: str) -> float:
    """Seconds in ``30s``, ``2m``, ``1.5h``, ``1d``."""
    return float(token[:-1]) * DURATION_UNITS[token[-1]]
