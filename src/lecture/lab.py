"""`make lab`: JupyterLab on the project with its kernel, wherever a student is,
root included: always on 127.0.0.1 and always behind a token. The lecture is in
notebooks/, the exercises in exercises/student/ (`make lab` builds them first).

JupyterLab refuses to run as root unless told (`--allow-root`), as containers and
CI machines often do; this passes it only there. The token is Jupyter's own random
one, or $JUPYTER_TOKEN when set, else the content of $JUPYTER_TOKEN_FILE (neither may
be empty or shorter than MIN_TOKEN characters). A Jupyter configuration file
that switches the token off (`token = ""`, in any folder Jupyter reads: $JUPYTER_CONFIG_DIR,
~/.jupyter, the environment's, the system's) makes it refuse to start, naming the file. The project's JupyterLab
settings (no news, no update checks, no extension manager, and no math plugin of
jupyterlab-quarto's, which loads MathJax from a CDN: this is offline) are installed into
the environment with the package (hatch_build.py), not into anyone's home folder, and so
is the server setting that gives new notebooks the project's kernel. The project's style sheet,
tools/jupyterlab/lesson.css (installed as a small JupyterLab extension), hides what is there for
the slides only (the cells that hold nothing but Quarto's `:::` fences, the labels of
fenced divs) and shows a "Beyond the slides" badge where the slides do.

    make lab                        (builds the exercises first)
    uv run lecture-lab              (the package's entry point; builds the exercises if missing)
    python -m lecture.lab [--port N] [--no-browser] [--root DIR]
"""

import argparse
import importlib.util
import os
import subprocess
import sys
from pathlib import Path

from lecture.tooling import ROOT


def project_root():
    """The folder JupyterLab serves by default: the project, in a checkout; else the current one."""
    return ROOT if (ROOT / "notebooks").is_dir() and (ROOT / "pyproject.toml").is_file() else Path.cwd()


def command(port=None, browser=True, root=None):
    cmd = [sys.executable, "-m", "jupyterlab", "--ServerApp.ip=127.0.0.1",
           f"--ServerApp.root_dir={root or project_root()}"]
    if os.name != "nt":
        # Kernels talk to the server over Unix sockets beside their connection files, not
        # TCP ports on 127.0.0.1: no other local user or process can reach a kernel, and
        # two kernels started at once cannot be handed the same port.
        cmd.append("--KernelManager.transport=ipc")
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        cmd.append("--allow-root")
    if port:
        cmd += [f"--ServerApp.port={port}", "--ServerApp.port_retries=0"]
    if not browser:
        cmd.append("--no-browser")
    return cmd


MIN_TOKEN = 16  # characters: a shorter $JUPYTER_TOKEN can be guessed


def switches_auth_off(section, settings):
    """What in one configuration section turns the server's authentication off, as
    "Section.setting = value", or None. Any class's `token` set empty (IdentityProvider,
    PasswordIdentityProvider, ServerApp, NotebookApp, ...), unauthenticated access
    allowed, or the identity provider replaced (a password-less one can be plugged in)."""
    if settings.get("token", None) == "":
        return f"{section}.token = ''"
    if settings.get("allow_unauthenticated_access", None) is True:
        return f"{section}.allow_unauthenticated_access = True"
    provider = settings.get("identity_provider_class", None)
    if provider is not None and "PasswordIdentityProvider" not in str(provider):
        return f"{section}.identity_provider_class = {provider!r}"
    return None


def config_files():
    """Every configuration file a Jupyter server started here reads."""
    from jupyter_core.paths import jupyter_config_path

    for folder in map(Path, jupyter_config_path()):
        for name in ("jupyter_config", "jupyter_server_config", "jupyter_lab_config", "jupyter_notebook_config"):
            for suffix in (".py", ".json"):
                if (folder / f"{name}{suffix}").is_file():
                    yield folder / f"{name}{suffix}"
        for drop_in in ("jupyter_server_config.d", "jupyter_notebook_config.d"):
            yield from sorted((folder / drop_in).glob("*.json"))


def token_switched_off():
    """The first configuration file that switches authentication off, as "FILE (Class.setting =
    value)" (see switches_auth_off), or None."""
    from traitlets.config.loader import JSONFileConfigLoader, PyFileConfigLoader

    for path in config_files():
        loader = (PyFileConfigLoader if path.suffix == ".py" else JSONFileConfigLoader)(path.name, str(path.parent))
        try:
            config = loader.load_config()
        except Exception as e:  # Jupyter itself would stop on it
            return f"{path} (unreadable: {type(e).__name__}: {e})"
        for section, settings in config.items():
            off = switches_auth_off(section, settings) if hasattr(settings, "get") else None
            if off:
                return f"{path} ({off})"
    return None


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, help="the port on 127.0.0.1 (default: Jupyter's, 8888 or the next free)")
    parser.add_argument("--no-browser", action="store_true", help="do not open a browser")
    parser.add_argument("--root", type=Path, default=None, help="the folder it serves (default: the project)")
    args = parser.parse_args(argv)
    token, source = os.environ.get("JUPYTER_TOKEN", None), "JUPYTER_TOKEN"
    if token == "":
        sys.exit("make lab: JUPYTER_TOKEN is empty; unset it (Jupyter makes a random token) or set one")
    if token is None and os.environ.get("JUPYTER_TOKEN_FILE"):  # Jupyter's next place, read as Jupyter reads it
        source = f"JUPYTER_TOKEN_FILE's {os.environ['JUPYTER_TOKEN_FILE']}"
        try:
            token = Path(os.environ["JUPYTER_TOKEN_FILE"]).read_text()
        except (OSError, UnicodeDecodeError) as e:
            sys.exit(f"make lab: cannot read {source}: {e.strerror if isinstance(e, OSError) else e}")
        if token == "":
            sys.exit(f"make lab: refusing to start: {source} is empty, which switches the token off; put a token "
                     "in it or unset JUPYTER_TOKEN_FILE")
    if token is not None and len(token) < MIN_TOKEN:
        sys.exit(f"make lab: {source} has {len(token)} characters, fewer than {MIN_TOKEN}: anyone on this "
                 "machine could guess it; unset it (Jupyter makes a random one) or set a longer one")
    if importlib.util.find_spec("jupyterlab") is None:
        sys.exit(f"make lab: JupyterLab is not installed in {sys.prefix}: run `make setup` (or `uv sync`)")
    off = token_switched_off()
    if off:
        sys.exit(f"make lab: refusing to start: {off} switches the token off, and anyone on this machine "
                 "could then run code in your kernels; remove that setting (make lab always uses a token)")
    root = args.root.resolve() if args.root else project_root()
    build_exercises(root)
    cmd = command(args.port, browser=not args.no_browser, root=root)
    if os.name == "nt":  # no exec there: JupyterLab as a child, its exit status ours
        sys.exit(subprocess.call(cmd))
    os.execv(cmd[0], cmd)


def build_exercises(root):
    """The exercises' student versions, where a checkout has their sources but not yet them
    (`make lab` has built them already; `uv run lecture-lab` has not)."""
    builder = root / "tools" / "exercises.py"
    if builder.is_file() and (root / "exercises" / "solutions").is_dir() and not (root / "exercises" / "student").is_dir():
        print("building the exercises (exercises/student/), once", flush=True)
        subprocess.run([sys.executable, str(builder), "build"], cwd=root, check=False)


if __name__ == "__main__":
    main()
