"""Simulated hosts for the multi-machine tests and benchmark: Linux network namespaces
joined by one virtual Ethernet link, each with its own address, its own hostname (a UTS
namespace) and its own /etc/hosts (`ip netns exec` mounts /etc/netns/NAME/hosts over it).
Traffic between them stays on that link; nothing is routed anywhere else.

    with Hosts() as hosts:                  # needs root and `ip` (iproute2), `unshare`
        p = hosts.popen(0, [python, script, ...])
        hosts.link_down()                   # the link between them, as a pulled cable

Everything made is removed when the block ends (namespaces, link, hosts files), and every
process started in them is killed. `unavailable()` says why hosts cannot be made here."""

import contextlib
import os
import random
import shutil
import signal
import subprocess
from pathlib import Path

NETNS_ETC = Path("/etc/netns")


def unavailable():
    """Why namespaced hosts cannot be made on this machine, or None when they can."""
    if not hasattr(os, "geteuid") or os.geteuid() != 0:
        return "simulated hosts need root (network and UTS namespaces)"
    for tool in ("ip", "unshare"):
        if shutil.which(tool) is None:
            return f"simulated hosts need `{tool}` (iproute2, util-linux)"
    probe = subprocess.run(["unshare", "--net", "--uts", "true"], capture_output=True, text=True)
    if probe.returncode != 0:
        return f"this machine does not allow new network namespaces ({probe.stderr.strip()})"
    return None


class Hosts:
    """Two hosts named node0 and node1 at 10.S.0.1 and 10.S.0.2 (S random per pair), on one
    veth link. `loopback_names` lists the hosts whose /etc/hosts maps their own name to
    127.0.1.1, as Debian's default does."""

    def __init__(self, loopback_names=()):
        n, self.tag = 2, f"lec{os.getpid() % 10000}{random.randrange(1000):03d}"
        self.subnet = random.randrange(64, 250)
        self.names = [f"node{i}" for i in range(n)]
        self.addresses = [f"10.{self.subnet}.0.{i + 1}" for i in range(n)]
        self.namespaces = [f"{self.tag}h{i}" for i in range(n)]
        self.links = [f"{self.tag}v{i}" for i in range(n)]
        self.loopback_names = set(loopback_names)
        self.processes = []

    def _ip(self, *args):
        subprocess.run(["ip", *args], check=True, capture_output=True, text=True)

    def __enter__(self):
        try:
            for ns in self.namespaces:
                self._ip("netns", "add", ns)
            self._ip("link", "add", self.links[0], "type", "veth", "peer", "name", self.links[1])
            for ns, link, address in zip(self.namespaces, self.links, self.addresses):
                self._ip("link", "set", link, "netns", ns)
                self._ip("-n", ns, "addr", "add", f"{address}/24", "dev", link)
                self._ip("-n", ns, "link", "set", link, "up")
                self._ip("-n", ns, "link", "set", "lo", "up")
            for i, ns in enumerate(self.namespaces):
                lines = ["127.0.0.1 localhost"]
                for j, (name, address) in enumerate(zip(self.names, self.addresses)):
                    if i == j and name in self.loopback_names:
                        lines.append(f"127.0.1.1 {name}")
                    else:
                        lines.append(f"{address} {name}")
                (NETNS_ETC / ns).mkdir(parents=True, exist_ok=True)
                (NETNS_ETC / ns / "hosts").write_text("\n".join(lines) + "\n")
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def command(self, i, cmd):
        """`cmd` as it runs on host i: in its network namespace, under its own hostname."""
        return ["ip", "netns", "exec", self.namespaces[i], "unshare", "--uts", "sh", "-c",
                f'hostname {self.names[i]} && exec "$@"', "sh", *map(str, cmd)]

    def popen(self, i, cmd, **kwargs):
        """A process on host i (its own process group, so that it and its children can be killed)."""
        p = subprocess.Popen(self.command(i, cmd), start_new_session=True, **kwargs)
        self.processes.append(p)
        return p

    def link_down(self, i=1):
        """Host i's end of the link taken down: no packet passes either way, and no peer is told."""
        self._ip("-n", self.namespaces[i], "link", "set", self.links[i], "down")

    def kill(self, i):
        """Every process on host i killed at once (SIGKILL), as a machine that dies."""
        for pid in subprocess.run(["ip", "netns", "pids", self.namespaces[i]], capture_output=True,
                                  text=True).stdout.split():
            with contextlib.suppress(ProcessLookupError, ValueError):
                os.kill(int(pid), signal.SIGKILL)

    def __exit__(self, *exc):
        for p in self.processes:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(p.pid, signal.SIGKILL)
            with contextlib.suppress(Exception):
                p.wait(timeout=30)
        for i, ns in enumerate(self.namespaces):
            self.kill(i)  # whatever is left in a namespace (a process that left its group) goes with it
            subprocess.run(["ip", "netns", "del", ns], capture_output=True)
            shutil.rmtree(NETNS_ETC / ns, ignore_errors=True)
        subprocess.run(["ip", "link", "del", self.links[0]], capture_output=True)  # gone with its namespace
        return False
