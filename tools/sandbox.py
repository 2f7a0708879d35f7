"""make grade's sandbox: each submission runs inside bubblewrap (`bwrap`, Debian's and
Ubuntu's package `bubblewrap`), never unconfined.

Inside, a submission has
- no network: a network namespace of its own, with only its own loopback;
- a read-only view of what running it needs and nothing else: /usr, this Python and its
  environment, the `lecture` package with the lecture's notebooks and data, the runner
  (tools/run_submission.py) and the submission's copy; no solutions, no autograder, no
  project checkout, no home, no /tmp of the grader's, no /etc but passwd, group,
  nsswitch.conf, localtime and the linker's cache;
- one writable folder, /tmp (its working folder, HOME and TMPDIR too), a tmpfs of
  FOLDER_LIMIT bytes that is gone when it ends (the folders above a read-only path that
  lies under /tmp, as in a checkout there, are root's: nobody cannot write in them);
- a PID namespace: its processes see only each other, and all of them are killed when
  its first one ends, so no daemon outlives its grading;
- limits per process (kernel rlimits, set by util-linux's prlimit): MEMORY_LIMIT bytes
  of address space, CPU_LIMIT CPU-seconds, FILE_LIMIT bytes a file, and (graded by root)
  NPROC processes of nobody; and the wall-clock limit `run` is given, after which it is
  killed whole;
- the unprivileged user nobody (65534): when the grader is root, bwrap sets up the
  sandbox and util-linux's setpriv drops to nobody with no capabilities and
  no_new_privs before anything of the submission's runs; any other grader gets a user
  namespace of its own (bwrap --unshare-user) and is nobody inside it.
"""

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import threading
from pathlib import Path

BWRAP = "bwrap"
MEMORY_LIMIT = 6 * 2**30  # bytes of address space one process may map (JAX's kernel maps ~2 GiB)
CPU_LIMIT = 1200  # CPU-seconds one process may use (JAX uses several threads)
FILE_LIMIT = 64 * 2**20  # bytes any one file may reach
FOLDER_LIMIT = 256 * 2**20  # bytes the writable folder holds, all files together
NPROC = max(512, 32 * (os.cpu_count() or 1))  # processes and threads of its user (XLA's pools scale with CPUs)
OUTPUT_LIMIT = 16 * 2**20  # bytes read back from it; the rest is discarded
NOBODY = 65534
FOLDER = "/tmp"
SETPRIV = "/usr/bin/setpriv"
PRLIMIT = "/usr/bin/prlimit"


class SandboxError(Exception):
    """No sandbox can be made here; the message is the one line make grade stops with."""


def check():
    """None when bwrap can make the sandbox here; else raises SandboxError with what to do."""
    if not sys.platform.startswith("linux"):
        raise SandboxError("student code runs only inside bubblewrap, which exists only on Linux: grade on a Linux "
                           "machine (a container or VM will do) with bubblewrap installed")
    if shutil.which(BWRAP) is None:
        raise SandboxError("bubblewrap (bwrap) is missing, and student code runs only inside it: install it "
                           "(Debian/Ubuntu: apt install bubblewrap; Fedora: dnf install bubblewrap)")
    missing = [tool for tool in [PRLIMIT] + [SETPRIV] * (os.geteuid() == 0) if not Path(tool).is_file()]
    if missing:
        raise SandboxError(f"{' and '.join(missing)} (util-linux) is missing, and the sandbox needs it: install "
                           "util-linux")
    probe = subprocess.run(command([sys.executable, "-c", "pass"], visible=environment()),
                           capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=120)
    if probe.returncode != 0:
        said = (probe.stderr.strip().splitlines() or [f"exit status {probe.returncode}"])[-1]
        raise SandboxError(f"bubblewrap cannot make a sandbox here ({said}): where containers forbid namespaces, "
                           "grade on a machine or VM that allows them (unprivileged user namespaces, or as root)")


def environment():
    """What a submission needs to see, read-only: this Python's installation and
    environment, the lecture package with its notebooks and data."""
    import lecture

    package = Path(lecture.__file__).resolve().parent
    paths = {Path(sys.base_prefix).resolve(), Path(sys.prefix).resolve(), package,
             Path(lecture.NOTEBOOKS_DIR).resolve(), Path(lecture.DATA_DIR).resolve()}
    return sorted(p for p in paths if not _under_usr(p))


def _under_usr(path):
    return path == Path("/usr") or Path("/usr") in path.parents


def command(argv, visible=(), bound=(), env=None):
    """The bwrap command line that runs `argv` in the sandbox. `visible`: host paths shown
    read-only at the same place; `bound`: (host path, path inside) pairs shown read-only;
    `env`: the whole environment inside (nothing of the grader's passes otherwise)."""
    root = os.geteuid() == 0
    cmd = [BWRAP, "--unshare-ipc", "--unshare-pid", "--unshare-net", "--unshare-uts", "--unshare-cgroup-try",
           "--die-with-parent", "--new-session", "--hostname", "grading", "--clearenv"]
    if not root:
        cmd += ["--unshare-user", "--uid", str(NOBODY), "--gid", str(NOBODY), "--disable-userns"]
    cmd += ["--ro-bind", "/usr", "/usr"]
    for top in ("bin", "sbin", "lib", "lib32", "lib64", "libx32"):  # merged /usr: links; else the folders
        path = Path("/", top)
        if path.is_symlink():
            cmd += ["--symlink", os.readlink(path), str(path)]
        elif path.is_dir():
            cmd += ["--ro-bind", str(path), str(path)]
    for name in ("passwd", "group", "nsswitch.conf", "ld.so.cache", "localtime"):
        if Path("/etc", name).exists():
            cmd += ["--ro-bind", f"/etc/{name}", f"/etc/{name}"]
    # The writable folder first: a read-only path below it (a checkout in /tmp) is mounted on it.
    cmd += ["--perms", "01777", "--size", str(FOLDER_LIMIT), "--tmpfs", FOLDER]
    made = set()
    for host, inside in [(Path(p), Path(p)) for p in visible] + [(Path(h), Path(i)) for h, i in bound]:
        for parent in reversed(inside.parents):  # bwrap would make them 0700 (root's /root): nobody must pass
            if parent != Path("/") and parent not in made and not _under_usr(parent):
                cmd += ["--perms", "0755", "--dir", str(parent)]
                made.add(parent)
        cmd += ["--ro-bind", str(host), str(inside)]
    cmd += ["--proc", "/proc", "--dev", "/dev", "--chdir", FOLDER]
    for name, value in (env or {}).items():
        cmd += ["--setenv", name, value]
    if root:  # bwrap keeps only these two capabilities, which setpriv uses to become nobody, then drops
        cmd += ["--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID"]
    # (The process count only where the sandbox's user is nobody itself: another grader's
    # own processes would count against it.)
    cmd += [PRLIMIT, f"--as={MEMORY_LIMIT}", f"--cpu={CPU_LIMIT}", f"--fsize={FILE_LIMIT}", "--core=0",
            *[f"--nproc={NPROC}"] * root, "--"]
    if root:
        cmd += [SETPRIV, f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups", "--inh-caps=-all",
                "--bounding-set=-all", "--no-new-privs", "--"]
    return cmd + [str(a) for a in argv]


class Outcome:
    """How a sandboxed run ended: `returncode` (negative: the signal that ended it),
    `result` (bytes the run wrote to its result descriptor, at most OUTPUT_LIMIT),
    `output` (its stdout and stderr together, at most their last OUTPUT_LIMIT bytes),
    `timed_out`."""

    def __init__(self, returncode, result, output, timed_out):
        self.returncode, self.result, self.output, self.timed_out = returncode, result, output, timed_out


def run(cmd, timeout, result_fd=3):
    """Run a command line from `command` with a pipe on `result_fd` inside, for at most
    `timeout` seconds, then kill it whole. Returns an Outcome once the sandbox and every
    process in it are gone: nothing it started runs after this returns."""
    read_result, write_result = os.pipe()

    def place():  # in the child: the pipe's write end becomes `result_fd` for bwrap, and so inside
        os.dup2(write_result, result_fd)

    try:
        child = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                 pass_fds=(result_fd,), preexec_fn=place, start_new_session=True)
    except OSError:
        os.close(read_result)
        raise
    finally:
        os.close(write_result)
    result, output = _Reader(os.fdopen(read_result, "rb")), _Reader(child.stdout, keep_last=True)
    timed_out = False
    try:
        child.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        timed_out = True
    finally:
        # The sandbox's first process (bwrap's own init, bwrap's child) killed: by the
        # kernel's rule for PID namespaces every process inside dies with it, and bwrap
        # returns once they are all gone. (bwrap itself killed first would return at once,
        # and --die-with-parent would end them a moment later.)
        if child.poll() is None:
            for pid in _children(child.pid):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            try:
                child.wait(timeout=30)
            except subprocess.TimeoutExpired:  # not set up yet, or stuck: bwrap itself, then its init
                os.killpg(child.pid, signal.SIGKILL)
                child.wait()
    # Every writer is gone with the namespace: the readers reach the end at once.
    return Outcome(child.returncode, result.done(), output.done(), timed_out)


def _children(pid):
    try:
        return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


class _Reader:
    """Reads a pipe to its end in a thread, keeping at most OUTPUT_LIMIT bytes: the first
    ones, or with `keep_last` the last ones."""

    def __init__(self, pipe, keep_last=False):
        self.pipe, self.kept, self.keep_last = pipe, bytearray(), keep_last
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self):
        with self.pipe:
            while chunk := self.pipe.read1(1 << 16):
                if self.keep_last:
                    self.kept += chunk
                    del self.kept[:-OUTPUT_LIMIT]
                elif len(self.kept) < OUTPUT_LIMIT:
                    self.kept += chunk[:OUTPUT_LIMIT - len(self.kept)]

    def done(self):
        self.thread.join(timeout=30)  # the writers are dead: this is at once, bounded in any case
        return bytes(self.kept)
