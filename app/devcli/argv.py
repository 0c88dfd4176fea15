"""The command line forms `deis-db` accepts.

The Deis CLI runs a plugin for an unknown `db:...` command by exec'ing `deis-db` with the part after `db:`
(`deis db:backups -a shop` -> `deis-db backups -a shop`); for a bare `deis db` or `deis help db` it passes `db`
itself (`deis-db db`, `deis-db db --help`). Called directly, `deis-db db:backups` is accepted too.
"""
from __future__ import annotations

PLUGIN = "db"
OPTIONS_WITH_VALUE = ("-c", "--config")  # the group's options that take a value (their value is not the command)


def normalize(argv: list[str]) -> list[str]:
    """`db:backups -a shop` -> `backups -a shop`; `db --help` -> `--help`; other forms unchanged."""
    argv = list(argv)
    index = 0
    while index < len(argv):
        arg = argv[index]
        if arg == "--":
            return argv
        if arg in OPTIONS_WITH_VALUE:
            index += 2
            continue
        if arg.startswith("-"):
            index += 1
            continue
        if arg == PLUGIN:
            del argv[index]
        elif arg.startswith(PLUGIN + ":"):
            argv[index] = arg[len(PLUGIN) + 1:]
        return argv
    return argv
