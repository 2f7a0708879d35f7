"""One lock for every laptop: uv.lock (and requirements.txt, its export for pip) installs,
every file's hash checked, on each supported platform and Python, as uv's resolver
decides for that platform. A lock that leaves out what one platform needs (appnope on
macOS, pywinpty on Windows: what a lock compiled on Linux does) fails here.

The resolver needs the metadata of other platforms' files, which no machine has from its
own set-up: uv reads it from its cache, else from the package index (the one test that
reads it; CI reaches it). Where the index cannot be reached, these tests skip with that
reason, except in CI (`CI` set), where they fail."""

import os
import re
import subprocess
import tomllib

import pytest

import lock
import lockfile
import setup_env
from helpers import ROOT

UV = lockfile.find_uv()
# uv's names for the platforms pyproject.toml's [tool.uv] environments lists, in its order
PLATFORMS = {"x86_64-unknown-linux-gnu": "sys_platform == 'linux' and platform_machine == 'x86_64'",
             "aarch64-unknown-linux-gnu": "sys_platform == 'linux' and platform_machine == 'aarch64'",
             "aarch64-apple-darwin": "sys_platform == 'darwin' and platform_machine == 'arm64'",
             "x86_64-pc-windows-msvc": "sys_platform == 'win32' and platform_machine == 'AMD64'"}
PYTHONS = ["3.12", "3.13", "3.14"]
PAIRS = [(p, v) for p in PLATFORMS for v in PYTHONS]
OFFLINE = re.compile(r"(?i)failed to fetch|could not connect|dns error|connection refused|network is unreachable"
                     r"|timed out|error sending request")


def pyproject():
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def install_dry_run(requirements, platform, python, target):
    """uv's resolver installing `requirements` for `platform` and `python`, hashes required,
    wheels only (a laptop builds nothing), nothing written: (return code, uv's output)."""
    out = subprocess.run([UV, "pip", "install", "--dry-run", "--no-build", "--require-hashes",
                          "--python-platform", platform, "--python-version", python,
                          "--target", target, "-r", requirements],
                         capture_output=True, text=True, timeout=300, cwd=ROOT)
    return out.returncode, out.stdout + out.stderr


def checked(requirements, platform, python, target):
    code, output = install_dry_run(requirements, platform, python, target)
    if code != 0 and OFFLINE.search(output):
        message = f"the package index cannot be reached for {platform}'s metadata: {output.strip().splitlines()[-1]}"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return code, output


@pytest.mark.parametrize("platform, python", PAIRS, ids=[f"{p}-py{v}" for p, v in PAIRS])
def test_the_lock_installs_with_every_hash_checked(platform, python, tmp_path):
    code, output = checked(ROOT / "requirements.txt", platform, python, tmp_path)
    assert code == 0, f"the lock does not install on {platform} with Python {python}:\n{output}"
    assert re.search(r"^ \+ jaxlib==", output, re.M), output
    assert re.search(r"^ \+ jupyterlab==", output, re.M), output


def test_a_lock_made_on_linux_alone_is_refused(tmp_path):
    """The check above fails where it should: the lock without appnope (as pip-compile on
    Linux wrote it) does not install on a Mac, and says why."""
    text = (ROOT / "requirements.txt").read_text()
    linux_only = re.sub(r"^appnope==.*?(?=^\S)", "", text, flags=re.M | re.S)
    assert linux_only != text, "the lock has appnope (ipykernel's, on macOS)"
    (tmp_path / "linux-only.txt").write_text(linux_only)
    code, output = checked(tmp_path / "linux-only.txt", "aarch64-apple-darwin", "3.13", tmp_path / "target")
    assert code != 0 and "appnope" in output, output


def test_requirements_txt_is_uv_lock_exported():
    assert (ROOT / "requirements.txt").read_text() == lock.exported(UV), \
        "requirements.txt is not uv.lock's export: run `make lock`"


def test_the_lock_matches_pyproject():
    out = subprocess.run([UV, "lock", "--locked", "--offline"], capture_output=True, text=True, cwd=ROOT)
    assert out.returncode == 0, f"uv.lock is out of date with pyproject.toml: run `make lock`\n{out.stderr}"


def test_the_lock_is_for_exactly_the_supported_platforms():
    """One list of platforms: the lock's, the resolver check's and make setup's refusal."""
    uv = pyproject()["tool"]["uv"]
    assert uv["environments"] == list(PLATFORMS.values()) == uv["required-environments"]
    machines = {"linux": "Linux", "darwin": "Darwin", "win32": "Windows"}
    named = {(machines[m.group(1)], m.group(2))
             for m in (re.search(r"sys_platform == '(\w+)' and platform_machine == '(\w+)'", e) for e in PLATFORMS.values())}
    assert named == set(setup_env.PLATFORMS)
    assert pyproject()["project"]["requires-python"] == ">=3.12,<3.15"


def test_every_locked_file_has_its_hash():
    packages = tomllib.loads((ROOT / "uv.lock").read_text())["package"]
    names = {p["name"] for p in packages}
    assert {"jax", "jaxlib", "numpy", "pandas", "matplotlib", "scikit-learn", "nbval", "optax", "flax",
            "equinox", "blackjax", "appnope", "pywinpty", "uv", "hatchling"} <= names
    assert "quarto-cli" not in names
    for package in packages:
        if package["name"] == "sta663-jax-lecture":
            continue
        files = package.get("wheels", []) + ([package["sdist"]] if "sdist" in package else [])
        assert files, f"{package['name']} has no file in the lock"
        assert all(f.get("hash", "").startswith("sha256:") for f in files), package["name"]


def test_held_back_pins_keep_their_reasons():
    text = (ROOT / "pyproject.toml").read_text()
    assert re.search(r"# [^\n]*rfc3987-syntax[^\n]*\n(?:\s*#[^\n]*\n)*\s*\"jsonschema<4.25\"", text), \
        "the jsonschema hold and its reason"
    jsonschema = [p for p in tomllib.loads((ROOT / "uv.lock").read_text())["package"] if p["name"] == "jsonschema"]
    assert [tuple(map(int, p["version"].split(".")[:2])) < (4, 25) for p in jsonschema] == [True] * len(jsonschema)


def test_uv_builds_the_package_with_the_locked_hatchling():
    """uv builds the editable package in an environment of its own: with the lock's hatchling
    (pyproject.toml's build-constraint-dependencies), the one pip's fallback uses."""
    constraint = pyproject()["tool"]["uv"]["build-constraint-dependencies"]
    locked = [p["version"] for p in tomllib.loads((ROOT / "uv.lock").read_text())["package"] if p["name"] == "hatchling"]
    assert constraint == [f"hatchling=={v}" for v in locked], "pyproject.toml's build constraint and the lock differ"
