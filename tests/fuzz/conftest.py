"""The fuzzers' figures: examples run per property, printed at the end of the run (`-rA` not needed)."""
from __future__ import annotations

from tests.fuzz.examples import RAN


def pytest_terminal_summary(terminalreporter) -> None:
    if not RAN:
        return
    terminalreporter.write_sep("-", f"fuzzing: {sum(RAN.values())} examples over {len(RAN)} properties")
    for name, examples in sorted(RAN.items()):
        terminalreporter.write_line(f"{examples:>7}  {name}")
