"""The test run says at the top when the JAX that can be imported is not the locked one."""

from importlib import metadata

import conftest


def test_header_confirms_the_locked_versions():
    lines = conftest.pytest_report_header(config=None)
    assert lines == [f"jax {metadata.version('jax')} (as locked)",
                     f"jaxlib {metadata.version('jaxlib')} (as locked)"]


def test_header_warns_when_jax_differs_from_the_lock(monkeypatch):
    real = conftest.installed
    monkeypatch.setattr(conftest, "installed", lambda name: "9.9.9" if name == "jax" else real(name))
    warning = conftest.pytest_report_header(config=None)[0]
    assert warning.startswith("WARNING: jax 9.9.9 differs from the lock (jax==")
    assert "make setup" in warning


def test_header_warns_when_jax_files_are_missing_though_its_metadata_is_there(monkeypatch, tmp_path):
    """`rm -rf site-packages/jax` leaves jax's dist-info: its version is still there, jax is not."""
    info = tmp_path / f"jax-{metadata.version('jax')}.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: jax\nVersion: {metadata.version('jax')}\n")
    (info / "RECORD").write_text(f"jax/__init__.py,,\n{info.name}/METADATA,,\n")
    real = metadata.distribution
    monkeypatch.setattr(conftest.metadata, "distribution",
                        lambda name: metadata.PathDistribution(info) if name == "jax" else real(name))
    warning = conftest.pytest_report_header(config=None)[0]
    assert warning.startswith("WARNING: jax cannot be imported (not installed, or files missing) differs from the lock")
