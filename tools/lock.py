"""`make lock`: compile requirements.txt from requirements.in with pip-tools.

pip-compile resolves every package, transitive ones too, records why each pin is
there (`# via`) and the hashes of its distributions; `make setup` installs with
those hashes checked. Pins already in requirements.txt are kept where they still
fit, so adding a package does not move the others (`make lock UPGRADE=1` moves
everything to the newest versions). pip-tools runs in a throw-away virtual
environment of the Python that `make setup` builds on (tools/find_python.py, or
`--python`), so it is not part of the lock and the lock's markers are that Python's. Review the diff, then
`make setup`, `make execute` and `make test`: a new JAX can change stored outputs.
"""

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import find_python

ROOT = Path(__file__).resolve().parent.parent
PIP_TOOLS = "pip-tools==7.6.2"


def main(argv=None):
    parser = argparse.ArgumentParser(description="Compile requirements.txt from requirements.in.")
    parser.add_argument("--python", help="the interpreter to resolve for (default: the one make setup finds)")
    base = find_python.chosen(parser.parse_args(argv).python)
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run([str(base), "-m", "venv", tmp], check=True)
        python = Path(tmp) / "bin" / "python"
        subprocess.run([python, "-m", "pip", "install", "-q", "--upgrade", "pip", PIP_TOOLS], check=True)
        # The index and find-links of this machine's pip configuration stay out of the lock.
        cmd = [python, "-m", "piptools", "compile", "--quiet", "--generate-hashes", "--allow-unsafe",
               "--no-emit-index-url", "--no-emit-find-links",
               "--strip-extras", "--output-file", "requirements.txt", "requirements.in"]
        if os.environ.get("UPGRADE"):
            cmd.append("--upgrade")
        subprocess.run(cmd, check=True, cwd=ROOT)
    print("wrote requirements.txt; review `git diff requirements.txt`")


if __name__ == "__main__":
    main()
