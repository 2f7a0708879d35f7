"""`make lock`: uv.lock from pyproject.toml, for every laptop the course supports, and
requirements.txt, the same lock exported for pip.

`uv lock` resolves once for every platform and Python that pyproject.toml's [tool.uv]
names (Linux x86_64 and aarch64, macOS on Apple silicon, Windows x86_64; Python 3.12 to
3.14), records the hashes of every file, and fails if one of those platforms would lack
a wheel (`required-environments`). Pins already in uv.lock are kept where they still fit,
so adding a package does not move the others (`make lock UPGRADE=1` moves everything to
the newest versions). `uv export` then writes requirements.txt with environment markers
and hashes (`pip install -r requirements.txt` installs the same versions). uv is the
lock's own (.venv's, after `make setup`), else the one on PATH. Review the diff, then
`make setup`, `make execute` and `make test`: a new JAX can change stored outputs.

    python3 tools/lock.py [--upgrade]
"""

import argparse
import os
import subprocess
import sys

from lockfile import ROOT, find_uv

EXPORT = ["export", "--frozen", "--quiet", "--no-header", "--format", "requirements-txt", "--all-groups",
          "--all-extras", "--no-emit-project"]
HEADER = ("# uv.lock exported for pip by `make lock` (tools/lock.py): every package for every supported\n"
          "# platform and Python, with its hashes. `pip install -r requirements.txt`, then `pip install .`\n")


def exported(uv):
    """uv.lock as a requirements file for pip: the text of requirements.txt."""
    out = subprocess.run([str(uv), *EXPORT], check=True, cwd=ROOT, capture_output=True, text=True)
    return HEADER + out.stdout


def main(argv=None):
    parser = argparse.ArgumentParser(description="uv.lock from pyproject.toml, and requirements.txt from uv.lock.")
    parser.add_argument("--upgrade", action="store_true", default=bool(os.environ.get("UPGRADE")),
                        help="move every pin to the newest version that fits (default: keep them)")
    args = parser.parse_args(argv)
    uv = find_uv()
    if uv is None:
        sys.exit("make lock: needs uv: run `make setup` (the lock installs it), or install uv")
    subprocess.run([str(uv), "lock", *(["--upgrade"] if args.upgrade else [])], check=True, cwd=ROOT)
    (ROOT / "requirements.txt").write_text(exported(uv))
    print("wrote uv.lock and requirements.txt; review `git diff uv.lock requirements.txt`")


if __name__ == "__main__":
    main()
