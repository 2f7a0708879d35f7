"""`make drift JAX=<version>`: what another JAX release prints, cell by cell, against the
stored outputs.

    python tools/drift.py --jax 0.10.2                     scratch environment .drift/jax-0.10.2-py3.13/
    python tools/drift.py --jax 0.12.0.1 --base-python python3.12   the lock's JAX on another Python
    python tools/drift.py --python PATH [NOTEBOOK ...]     an environment that exists already

With `--jax`, a scratch virtual environment is built (once; it is kept in `.drift/`, which
git ignores and `make clean` removes) on the Python that `make setup` uses, or
`--base-python` (`make drift PYTHON=...`): the lock (requirements.txt, its markers
evaluated for that Python) with jax and jaxlib at that version where the rest of the lock
resolves with it, else pyproject.toml's requirements with jax at that version and the
newest of the rest that resolves. The stored outputs come from one Python (each
notebook's metadata names it); a run on another names that Python in its report's name.
Every notebook (or those named, by stem) is copied with `data/` into a temporary
folder and run top to bottom there, in a kernel of that environment, as nbval runs it
(every cell, errors and all). The executed copies are compared with the stored
notebooks as nbval compares them (the same output fields, tests/sanitize.cfg's
sanitizers, the nbval-ignore-output, nbval-skip and raises-exception tags), and the
report (`docs/drift/jax-<stored>-to-<version>.md`, `...-py3.12.md` on another Python, or `--out`) lists per notebook each cell whose
output differs, the stored and the new output side by side, and a summary line: cells
changed, cells failing, warnings new. The committed notebooks are only read.
"""

import argparse
import configparser
import contextlib
import html
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import lockfile
from lecture.tooling import ROOT, numbered_notebooks, read_notebook, write_text_atomically

NOTEBOOKS = ROOT / "notebooks"
PYPROJECT = ROOT / "pyproject.toml"
VERSION = re.compile(r"\d+(\.\d+)*((a|b|rc)\d+)?(\.post\d+)?(\.dev\d+)?")  # a release, as PEP 440 writes it
SCRATCH = ROOT / ".drift"
SANITIZE_CFG = ROOT / "tests" / "sanitize.cfg"
# The output fields nbval leaves out of its comparison (nbval.plugin.IPyNbFile, without --nbdime).
NBVAL_SKIP = {"metadata", "traceback", "prompt_number", "output_type", "name", "execution_count",
              "application/vnd.jupyter.widget-view+json", "image/png", "image/jpeg"}


# -- the scratch environment ----------------------------------------------------------------

def _pinned(version):
    """The lock's pins with their environment markers, without hashes, jax and jaxlib at `version`."""
    return [f"{name}=={version if name in ('jax', 'jaxlib') else pinned}" + (f" ; {marker}" if marker else "")
            for name, pinned, marker, _ in lockfile.requirements()]


def _unpinned(version):
    """pyproject.toml's requirements (the package's, its extras', its dependency groups'), jax
    and jaxlib at `version`, the rest as they ask."""
    import tomllib

    project = tomllib.loads(PYPROJECT.read_text())
    listed = list(project["project"]["dependencies"])
    for extra in project["project"].get("optional-dependencies", {}).values():
        listed += extra
    for group in project.get("dependency-groups", {}).values():
        listed += [r for r in group if isinstance(r, str) and not r.startswith(project["project"]["name"])]
    reqs = []
    for line in listed:
        name = re.match(r"[A-Za-z0-9_.-]+", line).group(0).lower()
        reqs.append(f"{name}=={version}" if name in ("jax", "jaxlib") else line)
    return reqs


def build_env(version, base_python=None):
    """The scratch environment for JAX `version`: its Python, and how its set was chosen."""
    import find_python

    base = find_python.chosen(base_python)
    env = SCRATCH / f"jax-{version}-py{'.'.join(map(str, find_python.version_of(base)))}"
    python = env / "bin" / "python"
    done = env / ".drift-env.json"
    uv = lockfile.find_uv()
    if uv is None:
        sys.exit("make drift: needs uv (in the lock): run `make setup` first")
    if done.exists() and python.exists():
        lockfile.install_editable(python, uv)
        return python, json.loads(done.read_text())["how"]
    shutil.rmtree(env, ignore_errors=True)
    print(f"building {env.relative_to(ROOT)} on {base}", flush=True)
    subprocess.run([str(base), "-m", "venv", str(env)], check=True)
    attempts = [("the lock, with jax and jaxlib " + version, _pinned(version)),
                ("pyproject.toml with jax and jaxlib " + version + " (the lock did not resolve with it)",
                 _unpinned(version))]
    for how, reqs in attempts:
        with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as f:
            f.write("\n".join(reqs) + "\n")
        try:
            got = subprocess.run([str(uv), "pip", "install", "--quiet", "--python", str(python), "-r", f.name],
                                 capture_output=True, text=True)
        finally:
            os.unlink(f.name)
        if got.returncode == 0:
            lockfile.install_editable(python, uv)
            done.write_text(json.dumps({"how": how}) + "\n")
            return python, how
        print(f"make drift: {how}: did not resolve:\n{got.stderr.strip()[-2000:]}", flush=True)
    shutil.rmtree(env, ignore_errors=True)
    sys.exit(f"make drift: no set of packages with jax=={version} resolves on {base}")


def installed_versions(python):
    out = subprocess.run([str(python), "-c",
                          "import json, importlib.metadata as m; print(json.dumps("
                          "{d.metadata['Name'].lower().replace('_', '-'): d.version for d in m.distributions()}))"],
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout)


def lock_versions():
    """{package: the versions the lock pins for it} (two where Pythons differ: sphinx)."""
    return {name: set(versions) for name, versions in lockfile.pins().items()}


# -- running the notebooks (this part runs inside the environment under test) ---------------

def execute_into(out_dir, paths, timeout):
    """Run each notebook at `paths` top to bottom, every cell, errors and all, in a kernel of
    this Python, in the notebook's own folder; write the executed copy to `out_dir`."""
    import nbformat
    from nbclient.exceptions import CellTimeoutError

    import execute  # beside this file: the same kernel, thread and signal handling as make execute

    execute.Stop.install()
    for path in map(Path, paths):
        nb = read_notebook(path)
        start = time.perf_counter()
        print(f"running {path.name} ...", end=" ", flush=True)
        status = "done"
        try:
            execute.run_cells(nb, path.parent, timeout, path.name, allow_errors=True)
        except execute.Interrupted:
            print("stopped", flush=True)
            sys.exit(128 + execute.Stop.signal)
        except CellTimeoutError:
            status = f"a cell ran past {timeout} s; the cells after it did not run"
        except Exception as e:  # the kernel died, or could not start
            status = f"stopped: {type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"
        nb.metadata["drift"] = {"status": status}
        nbformat.write(nb, Path(out_dir) / path.name)
        print(f"{status} in {time.perf_counter() - start:.1f} s", flush=True)


def run_notebooks(python, stems, notebooks_dir, out_dir, timeout):
    """The notebooks `stems` of `notebooks_dir`, run by `python` in a scratch copy of them
    (the lecture package, installed editable, reads the project's data/ and notebooks/)."""
    with tempfile.TemporaryDirectory(prefix="drift-") as tmp:
        shutil.copytree(notebooks_dir, Path(tmp) / "notebooks",
                        ignore=shutil.ignore_patterns(".*", "__pycache__"))
        paths = [str(Path(tmp) / "notebooks" / f"{s}.ipynb") for s in stems]
        env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
        child = subprocess.Popen([str(python), str(Path(__file__).resolve()), "--execute-into", str(out_dir),
                                  "--timeout", str(timeout), *paths], env=env, cwd=tmp)
        # Ctrl-C or SIGTERM: the child ends its kernel and stops; then this stops, writing nothing.
        got = []

        def forward(signum, frame):
            got.append(signum)
            with contextlib.suppress(ProcessLookupError):
                child.send_signal(signal.SIGTERM)

        before = {s: signal.signal(s, forward) for s in (signal.SIGINT, signal.SIGTERM)}
        try:
            returncode = child.wait()
        finally:
            for s, handler in before.items():
                signal.signal(s, handler)
    if got:
        sys.exit(f"make drift: stopped by {signal.Signals(got[0]).name}; no report written")
    if returncode != 0:
        sys.exit(f"make drift: running the notebooks failed (exit status {returncode}); no report written")


# -- comparing as nbval compares -------------------------------------------------------------

def sanitizers(cfg=SANITIZE_CFG):
    parser = configparser.ConfigParser(interpolation=None)
    parser.read(cfg)
    return [(re.compile(parser[s]["regex"]), parser[s]["replace"]) for s in parser.sections()]


def _sanitize(text, patterns):
    for regex, replace in patterns:
        text = regex.sub(replace, text)
    return text


def _relative(text):
    """Paths into the project (a scratch environment's packages) as the project's own."""
    return text.replace(str(ROOT) + os.sep, "")


def _text(value):
    return "".join(value) if isinstance(value, list) else value


def compared_fields(outputs, patterns):
    """The outputs as nbval compares them: streams merged by name, each field (stdout,
    stderr, text/plain, ename, evalue, ...) a list of sanitized values."""
    fields = {}
    streams = {}
    for out in outputs:
        if out.get("output_type") == "stream":
            name = out.get("name", "stdout")
            if name in streams:
                fields[name][-1] += _text(out.get("text", ""))
                continue
            streams[name] = True
            fields.setdefault(name, []).append(_text(out.get("text", "")))
            continue
        for key, value in out.items():
            if key in NBVAL_SKIP:
                continue
            if key == "data":
                for mime, data in value.items():
                    if mime not in NBVAL_SKIP:
                        fields.setdefault(mime, []).append(_text(data))
            else:
                fields.setdefault(key, []).append(_text(value) if isinstance(value, (str, list)) else value)
    return {k: [_sanitize(v, patterns) if isinstance(v, str) else v for v in vs] for k, vs in fields.items()}


def shown(outputs):
    """An output as a reader sees it: streams, results, errors as their line."""
    parts = []
    for out in outputs:
        kind = out.get("output_type")
        if kind == "stream":
            parts.append(_text(out.get("text", "")).rstrip("\n"))
        elif kind == "error":
            parts.append(f"{out.get('ename')}: {out.get('evalue')}")
        elif kind in ("execute_result", "display_data"):
            data = out.get("data", {})
            parts.append(_text(data["text/plain"]) if "text/plain" in data else "(" + ", ".join(data) + ")")
    return "\n".join(parts)


def _has_error(outputs):
    return any(o.get("output_type") == "error" for o in outputs)


def _warnings(outputs):
    return {line for o in outputs if o.get("output_type") == "stream" and o.get("name") == "stderr"
            for line in _text(o.get("text", "")).splitlines() if "Warning" in line}


def compare(stored, new, patterns):
    """Each code cell of `stored` (a notebook as a dict) whose run in `new` nbval would
    fail: its output differs ("changed"), it raised where it should not or did not raise
    where tagged raises-exception, or it did not run ("failing"); and new warnings."""
    found = []
    compared = 0
    code_index = -1
    for index, (old, cell) in enumerate(zip(stored["cells"], new["cells"])):
        if old["cell_type"] != "code":
            continue
        code_index += 1
        tags = set(old.get("metadata", {}).get("tags", []))
        if "nbval-skip" in tags:
            continue
        compared += 1
        before, after = old.get("outputs", []), cell.get("outputs", [])
        entry = {"cell": index, "code_cell": code_index, "source": _text(old["source"]),
                 "stored": _relative(_sanitize(shown(before), patterns)),
                 "new": _relative(_sanitize(shown(after), patterns)),
                 "problems": []}
        if cell.get("execution_count") is None and not after:
            entry["problems"].append("did not run")
        elif "raises-exception" in tags and not _has_error(after):
            entry["problems"].append("tagged raises-exception, raised nothing")
        elif "raises-exception" not in tags and _has_error(after):
            entry["problems"].append("raised an error")
        failing = bool(entry["problems"])
        changed = "nbval-ignore-output" not in tags and compared_fields(before, patterns) != compared_fields(after, patterns)
        new_warnings = sorted(_relative(w) for w in _warnings(after) - _warnings(before))
        if failing or changed or new_warnings:
            entry.update(failing=failing, changed=changed, new_warnings=new_warnings)
            found.append(entry)
    return found, compared


# -- the report -------------------------------------------------------------------------------

def _pre(text):
    return f"<pre>{html.escape(text) or '(no output)'}</pre>"


def summary_line(results):
    cells = [e for _, found, _, _ in results for e in found]
    changed = sum(e["changed"] for e in cells)
    failing = sum(e["failing"] for e in cells)
    warnings = sum(len(e["new_warnings"]) for e in cells)
    compared = sum(n for _, _, n, _ in results)
    return (f"{changed} cells changed, {failing} cells failing, {warnings} warnings new "
            f"({compared} cells compared in {len(results)} notebooks)")


def report(results, title, environment, stored_jax):
    lines = [f"# {title}", "", f"Stored outputs: JAX {stored_jax}. Run here: {environment}", "",
             f"**Summary: {summary_line(results)}.**", "",
             "A cell is *changed* when nbval would find its output different (after tests/sanitize.cfg's "
             "sanitizers; figures are not compared), *failing* when it raised where it should not, did not "
             "raise where tagged `raises-exception`, or did not run. Timing cells (`nbval-ignore-output`) "
             "count only when they fail. Outputs are shown as compared: temporary cell files as `<cell>`, "
             "object addresses as `0xADDRESS`.", ""]
    for stem, found, compared, status in results:
        n_changed = sum(e["changed"] for e in found)
        n_failing = sum(e["failing"] for e in found)
        head = f"## {stem}: "
        head += ("no difference" if not found else f"{n_changed} changed, {n_failing} failing") + f" ({compared} cells)"
        lines += [head, ""]
        if status != "done":
            lines += [f"The run {status}.", ""]
        for e in found:
            what = [w for w, on in (("changed", e["changed"]), ("failing: " + ", ".join(e["problems"]), e["failing"]))
                    if on]
            if e["new_warnings"]:
                what.append("new warning")
            lines += [f"### code cell {e['code_cell']}: {'; '.join(what)}", "",
                      f"(nbval's `Cell {e['code_cell']}`; cell {e['cell']} of the notebook)", "", "```python", e["source"].rstrip(), "```", "",
                      f"<table><tr><th>stored (JAX {stored_jax})</th><th>{html.escape(environment.split(';')[0])}"
                      "</th></tr>",
                      f"<tr><td>{_pre(e['stored'])}</td><td>{_pre(e['new'])}</td></tr></table>", ""]
            for w in e["new_warnings"]:
                lines += [f"New warning: `{w.strip()}`", ""]
    return "\n".join(lines).rstrip() + "\n"


def stored_python_version(notebooks_dir, stems):
    """The Python the stored outputs came from, as the notebooks' metadata names it."""
    versions = {json.loads((notebooks_dir / f"{s}.ipynb").read_text())["metadata"].get("language_info", {})
                .get("version", "?") for s in stems}
    return ", ".join(sorted(versions))


def main(argv=None):
    parser = argparse.ArgumentParser(description="Run the notebooks with another JAX; report what changes.")
    parser.add_argument("notebooks", nargs="*", help="notebook stems or paths (default: every notebook)")
    which = parser.add_mutually_exclusive_group()
    which.add_argument("--jax", help="the JAX release to build a scratch environment for")
    which.add_argument("--python", help="run in this existing environment's Python instead")
    parser.add_argument("--base-python", help="the interpreter for the scratch environment (default: make setup's)")
    parser.add_argument("--notebooks-dir", type=Path, default=NOTEBOOKS, help=argparse.SUPPRESS)
    parser.add_argument("--stored-jax", help="the JAX release the stored outputs came from (default: the lock's)")
    parser.add_argument("--out", type=Path, help="the report (default: docs/drift/jax-<stored>-to-<version>.md)")
    parser.add_argument("--timeout", type=int, default=600, help="seconds a cell may run (default %(default)s)")
    parser.add_argument("--execute-into", type=Path, help=argparse.SUPPRESS)  # inside the environment
    args = parser.parse_args(argv)

    if args.execute_into:
        execute_into(args.execute_into, args.notebooks, args.timeout)
        return 0
    if not (args.jax or args.python):
        parser.error("name a JAX release (--jax 0.10.2, make drift JAX=0.10.2) or an environment (--python)")

    if args.jax and not VERSION.fullmatch(args.jax):
        sys.exit(f"make drift: {args.jax!r} is not a version: name a JAX release, e.g. make drift JAX=0.10.2 "
                 "(`pip index versions jax` lists them)")
    notebooks_dir = args.notebooks_dir.resolve()
    stems = [Path(n).stem for n in args.notebooks] or [p.stem for p in numbered_notebooks(notebooks_dir)]
    missing = [s for s in stems if not (notebooks_dir / f"{s}.ipynb").is_file()]
    if missing:
        sys.exit(f"make drift: no notebook {', '.join(missing)} in {notebooks_dir}")
    if args.jax:
        python, how = build_env(args.jax, args.base_python)
    else:
        python = Path(os.path.abspath(args.python))  # not resolved: a venv's python is a link
        if not python.exists():
            sys.exit(f"make drift: no interpreter at {args.python}")
        in_venv = python.parent.parent == ROOT / ".venv"
        how = "the project's .venv (the lock)" if in_venv else f"the environment of {python}"
    versions = installed_versions(python)
    jax_version = versions.get("jax", "?")
    locked = lock_versions()
    py = subprocess.run([str(python), "-c", "import platform; print(platform.python_version())"],
                        capture_output=True, text=True, check=True).stdout.strip()
    differ = [f"{name} {versions.get(name, 'absent')} (lock {' or '.join(sorted(v))})"
              for name, v in sorted(locked.items())
              if name not in ("jax", "jaxlib") and versions.get(name) not in v and name in versions]
    environment = (f"JAX {jax_version}; jaxlib {versions.get('jaxlib', '?')}, Python {py}, from {how}. "
                   + ("Other packages that differ from the lock: " + ", ".join(differ) + "."
                      if differ else "Every other package as locked."))

    with tempfile.TemporaryDirectory(prefix="drift-out-") as out:
        run_notebooks(python, stems, notebooks_dir, Path(out), args.timeout)
        patterns = sanitizers()
        results = []
        for stem in stems:
            stored = json.loads((notebooks_dir / f"{stem}.ipynb").read_text())
            new = json.loads((Path(out) / f"{stem}.ipynb").read_text())
            found, compared = compare(stored, new, patterns)
            results.append((stem, found, compared, new["metadata"].get("drift", {}).get("status", "done")))

    stored_python = stored_python_version(notebooks_dir, stems)
    other_python = ".".join(py.split(".")[:2]) != ".".join(stored_python.split(".")[:2])
    title = f"Drift: JAX {jax_version} against the stored outputs" + (
        f", on Python {py} (stored: Python {stored_python})" if other_python else "")

    stored_jax = args.stored_jax or min(locked.get("jax", {"?"}))
    text = report(results, title, environment, stored_jax)
    suffix = f"-py{'.'.join(py.split('.')[:2])}" if other_python else ""
    out_path = args.out or ROOT / "docs" / "drift" / f"jax-{stored_jax}-to-{jax_version}{suffix}.md"
    out_path.resolve().parent.mkdir(parents=True, exist_ok=True)
    write_text_atomically(out_path.resolve(), text)
    shown_path = out_path.resolve().relative_to(ROOT) if out_path.resolve().is_relative_to(ROOT) else out_path
    print(f"{shown_path}: {summary_line(results)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
