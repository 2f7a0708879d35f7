"""lecture.tooling: a file written whole or not at all keeps the permissions a plain write gives it."""

import os

from lecture.tooling import write_text_atomically


def test_a_new_file_gets_the_umasks_permissions_and_an_old_one_keeps_its_own(tmp_path):
    umask = os.umask(0o022)
    try:
        new = tmp_path / "new.html"
        write_text_atomically(new, "x")
        assert new.stat().st_mode & 0o777 == 0o644  # readable by a web server or a colleague
        old = tmp_path / "old.ipynb"
        old.write_text("a")
        old.chmod(0o600)
        write_text_atomically(old, "b")
        assert (old.read_text(), old.stat().st_mode & 0o777) == ("b", 0o600)
        assert sorted(p.name for p in tmp_path.iterdir()) == ["new.html", "old.ipynb"]
    finally:
        os.umask(umask)
