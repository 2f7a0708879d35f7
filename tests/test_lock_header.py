"""The test run says at the top when the installed JAX is not the locked one."""

from importlib import metadata

import conftest


def test_header_confirms_the_locked_versions():
    lines = conftest.pytest_report_header(config=None)
    assert lines == [f"jax {metadata.version('jax')} (as locked)",
                     f"jaxlib {metadata.version('jaxlib')} (as locked)"]


def test_header_warns_when_jax_differs_from_the_lock(monkeypatch):
    real = metadata.version
    monkeypatch.setattr(conftest.metadata, "version", lambda name: "9.9.9" if name == "jax" else real(name))
    warning = conftest.pytest_report_header(config=None)[0]
    assert warning.startswith("WARNING: jax 9.9.9 differs from the lock (jax==")
    assert "make setup" in warning
