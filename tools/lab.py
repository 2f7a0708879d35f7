"""`make lab`: JupyterLab on the project with its kernel, wherever a student is,
root included: always on 127.0.0.1 and always behind a token. The lecture is in
notebooks/, the exercises in exercises/student/ (`make lab` builds them first).

JupyterLab refuses to run as root unless told (`--allow-root`), as containers and
CI machines often do; this passes it only there. The token is Jupyter's own random
one, or $JUPYTER_TOKEN when set (it may not be empty). The project's JupyterLab
settings (no news, no update checks, no extension manager: this is offline) are
installed into .venv by `make setup`, not into anyone's home folder.

    python tools/lab.py [--port N] [--no-browser] [--root DIR]
"""

import argparse
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
JUPYTER = ROOT / ".venv" / "bin" / "jupyter"


def command(port=None, browser=True, root=ROOT):
    cmd = [str(JUPYTER), "lab", "--ServerApp.ip=127.0.0.1", f"--ServerApp.root_dir={root}"]
    if os.geteuid() == 0:
        cmd.append("--allow-root")
    if port:
        cmd += [f"--ServerApp.port={port}", "--ServerApp.port_retries=0"]
    if not browser:
        cmd.append("--no-browser")
    return cmd


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, help="the port on 127.0.0.1 (default: Jupyter's, 8888 or the next free)")
    parser.add_argument("--no-browser", action="store_true", help="do not open a browser")
    parser.add_argument("--root", type=Path, default=ROOT, help="the folder it serves (default: the project)")
    args = parser.parse_args(argv)
    if os.environ.get("JUPYTER_TOKEN", None) == "":
        sys.exit("make lab: JUPYTER_TOKEN is empty; unset it (Jupyter makes a random token) or set one")
    if not JUPYTER.exists():
        sys.exit("make lab: JupyterLab is not installed here: run `make setup`")
    cmd = command(args.port, browser=not args.no_browser, root=args.root.resolve())
    os.execv(cmd[0], cmd)


if __name__ == "__main__":
    main()
