"""`make lock`: compile requirements.txt (every version, transitive ones too) from
requirements.in, in a throw-away virtual environment, so the lock holds exactly
what the direct dependencies pull in today. Review the diff, then `make setup`,
`make execute` and `make test`: a new JAX can change stored outputs.
"""

import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
HEADER = """\
# The lock: every package the notebooks run with, pinned. Do not edit by hand:
# `make lock` compiles it from requirements.in. Quarto is deliberately absent
# (its PyPI package downloads a binary at install time; see README).
"""


def main():
    with tempfile.TemporaryDirectory() as tmp:
        python = Path(tmp) / "bin" / "python"
        subprocess.run([sys.executable, "-m", "venv", tmp], check=True)
        subprocess.run([python, "-m", "pip", "install", "-q", "--upgrade", "pip"], check=True)
        subprocess.run([python, "-m", "pip", "install", "-q", "-r", ROOT / "requirements.in"], check=True)
        frozen = subprocess.run([python, "-m", "pip", "freeze", "--all", "--exclude", "pip"],
                                check=True, capture_output=True, text=True).stdout
    (ROOT / "requirements.txt").write_text(HEADER + frozen)
    print("wrote requirements.txt; review `git diff requirements.txt`")


if __name__ == "__main__":
    main()
