"""`make lab`'s JupyterLab, started as `make lab` starts it (tools/lab.py): as root
here, on 127.0.0.1, behind a token, with the project's kernel, the Quarto extension
and the project's offline settings. The server is stopped afterwards, whatever
happens, and a server that does not come up fails with a plain message."""

import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

import pytest

from helpers import ROOT
from lecture import KERNEL_NAME


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def lab():
    port, token = free_port(), secrets.token_hex(16)
    server = subprocess.Popen([sys.executable, ROOT / "tools" / "lab.py", "--port", str(port), "--no-browser"],
                              env=os.environ | {"JUPYTER_TOKEN": token}, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                urllib.request.urlopen(f"{base}/api/status?token={token}", timeout=2)
                break
            except (urllib.error.URLError, ConnectionError):
                if server.poll() is not None or time.monotonic() > deadline:
                    os.killpg(server.pid, signal.SIGKILL)
                    pytest.fail(f"JupyterLab did not come up on {base} within 60 s:\n{server.stdout.read()[-2000:]}")
                time.sleep(0.3)
        yield base, token
    finally:
        if server.poll() is None:
            os.killpg(server.pid, signal.SIGTERM)
            try:
                server.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(server.pid, signal.SIGKILL)
                server.wait()
        with pytest.raises(ProcessLookupError):
            os.killpg(server.pid, 0)  # nothing of the server is left


def get(base, path, token=None):
    url = f"{base}{path}" + (f"?token={token}" if token else "")
    with urllib.request.urlopen(url, timeout=10) as r:
        return json.loads(r.read())


def test_it_needs_the_token(lab):
    base, _ = lab
    with pytest.raises(urllib.error.HTTPError) as e:
        get(base, "/api/kernelspecs")
    assert e.value.code == 403


def test_it_offers_the_projects_kernel(lab):
    base, token = lab
    specs = get(base, "/api/kernelspecs", token)["kernelspecs"]
    assert KERNEL_NAME in specs


def test_the_quarto_extension_and_the_offline_settings_are_in_place(lab):
    base, token = lab
    page = urllib.request.urlopen(f"{base}/lab?token={token}", timeout=10).read().decode()
    assert '"name": "jupyterlab-quarto"' in page  # among the page's federated extensions
    # tools/jupyterlab-overrides.json, installed into .venv: the defaults this JupyterLab uses.
    overrides = json.loads((ROOT / "tools" / "jupyterlab-overrides.json").read_text())
    for plugin, values in overrides.items():
        schema = get(base, f"/lab/api/settings/{plugin}", token)["schema"]["properties"]
        assert {k: schema[k]["default"] for k in values} == values, plugin


def test_an_empty_token_is_refused():
    result = subprocess.run([sys.executable, ROOT / "tools" / "lab.py", "--no-browser"],
                            env=os.environ | {"JUPYTER_TOKEN": ""}, capture_output=True, text=True, timeout=30)
    assert result.returncode == 1 and "JUPYTER_TOKEN is empty" in result.stderr
