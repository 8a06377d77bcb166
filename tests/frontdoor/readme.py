"""README.md's ``console`` blocks as commands and expected output, run in one shell, checked.

A ``console`` block holds ``$ command`` lines (a trailing ``\\`` continues one), each followed by
what it printed (abbreviated with ``…``). ``bash`` blocks (``./dev demo``, ``./dev test``) are not
run here: ``.ci/frontdoor.py`` and CI itself run those.

What is checked of each command: its exit code (0), and its key lines: the first cell of each
table row it shows (``posts by platform``, ``account precision``...) appears in what it printed,
and each plain line (``published 32 signals (TLP:AMBER) in campaign …``) matches some printed line
with every number, id and ``…`` taken as a wildcard. Figures are not compared: they are real output
of a 60,000-post demo, and detection may move them.

``python -m tests.frontdoor.readme DIR`` runs the blocks in DIR (which must hold a served
``vigil-demo``) and prints each command's output, to refresh the README from a real run.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
README = REPO / "README.md"

BOX = "│┃"
BORDER = set("┌┐└┘├┤┬┴┼─━┏┓┗┛┣┫┳┻╋┡┩╇╈═ ")
MARK = "@@@vigil-readme"


@dataclass
class Command:
    text: str  # as a shell reads it (continuations joined)
    expected: list[str] = field(default_factory=list)
    line: int = 0  # in README.md


def commands(markdown: str) -> list[Command]:
    """Every ``$ command`` of the ``console`` blocks, in order, with the lines shown after it."""
    found: list[Command] = []
    block: str | None = None
    pending: list[str] = []  # a command continued with a trailing backslash
    for number, raw in enumerate(markdown.splitlines(), 1):
        if raw.startswith("```"):
            block = raw[3:].strip() if block is None else None
            continue
        if block != "console":
            continue
        if pending:
            pending.append(raw)
            if not raw.rstrip().endswith("\\"):
                found[-1].text = "\n".join(pending)
                pending = []
            continue
        if raw.startswith("$ "):
            found.append(Command(raw[2:], line=number))
            if raw.rstrip().endswith("\\"):
                pending = [raw[2:]]
        elif found:
            found[-1].expected.append(raw)
    return found


def _squash(text: str) -> str:
    return " ".join(text.split())


def key_lines(expected: list[str]) -> tuple[list[str], list[re.Pattern[str]]]:
    """The table labels and the patterns of plain lines that a command's output must show."""
    labels: list[str] = []
    patterns: list[re.Pattern[str]] = []
    for line in expected:
        stripped = line.strip()
        if not stripped or stripped == "…" or set(stripped) <= BORDER:
            continue
        if stripped[0] in BOX:
            cells = [c.strip() for c in re.split(f"[{BOX}]", stripped)]
            first = cells[1] if len(cells) > 1 else ""  # a wrapped row's first cell is empty
            # Labels: words, not figures or ids (those vary) nor a cut-off value.
            if re.search(r"[A-Za-z]", first) and not re.search(r"\d|…|--", first):
                labels.append(_squash(first))
            continue
        # Words must be there as shown; figures, ids, keys and times (any token with a digit) vary,
        # and "…" stands for whatever was left out.
        tokens = []
        for token in stripped.split():
            if "…" in token:
                tokens.append(".*")
            elif re.search(r"\d", token) or "--" in token:
                tokens.append(r"\S+")
            else:
                tokens.append(re.escape(token))
        patterns.append(re.compile(r"\s+".join(tokens)))
    return labels, patterns


@dataclass
class Result:
    command: Command
    returncode: int
    output: str

    def problems(self) -> list[str]:
        where = f"README.md:{self.command.line} `{self.command.text.splitlines()[0]}`"
        if self.returncode != 0:
            return [f"{where} exited {self.returncode}:\n{self.output[-2000:]}"]
        printed = _squash(self.output)
        printed_lines = [_squash(line) for line in self.output.splitlines()]
        labels, patterns = key_lines(self.command.expected)
        found = [f"{where}: no {label!r} in its output" for label in labels if label not in printed]
        found += [
            f"{where}: no line like {p.pattern!r} in its output"
            for p in patterns
            if not any(p.search(line) for line in printed_lines)
        ]
        return found + ([f"(its output)\n{self.output[-2000:]}"] if found else [])


def run(cmds: list[Command], cwd: Path, env: dict[str, str], timeout: float = 900) -> list[Result]:
    """All commands in one bash (variables and ``export`` carry over), each one's output apart."""
    script = []
    for i, command in enumerate(cmds):
        script.append(f"printf '\\n{MARK} start {i}\\n'")
        script.append(command.text)
        script.append(f"printf '\\n{MARK} end {i} %d\\n' $?")
    done = subprocess.run(
        ["bash", "-c", "\n".join(script)],
        cwd=cwd,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=timeout,
        check=False,
    )
    results = []
    for i, command in enumerate(cmds):
        match = re.search(
            rf"\n{MARK} start {i}\n(.*?)\n{MARK} end {i} (\d+)\n", done.stdout, flags=re.S
        )
        if match is None:
            results.append(Result(command, -1, f"(never finished)\n{done.stdout[-2000:]}"))
        else:
            results.append(Result(command, int(match[2]), match[1]))
    return results


def shell_env(bin_dir: Path) -> dict[str, str]:
    """The environment a newcomer's shell has after installing Vigil: `vigil` on the PATH, wide
    plain output, none of the developer's VIGIL_* settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("VIGIL_")}
    env.update(PATH=f"{bin_dir}{os.pathsep}{env.get('PATH', '')}", COLUMNS="160", NO_COLOR="1")
    return env


if __name__ == "__main__":
    where = Path(sys.argv[1]).resolve()
    for result in run(commands(README.read_text("utf-8")), where, shell_env(Path(sys.executable).parent)):
        print(f"$ {result.command.text}\n{result.output}\n[exit {result.returncode}]")
        for problem in result.problems():
            print(f"!! {problem.splitlines()[0]}")
