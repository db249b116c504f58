"""Run the project's agents as Pacemaker would: installed path if present, else the shim."""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
OCF_DIR = Path("/usr/lib/ocf/resource.d/instanceha")


@dataclass(frozen=True)
class AgentResult:
    """One action's exit code, output and wall time."""

    rc: int
    stdout: str
    stderr: str
    seconds: float

    @property
    def reason(self) -> str:
        """The ocf-exit-reason text, or ''."""
        for line in self.stderr.splitlines():
            if line.startswith("ocf-exit-reason:"):
                return line.split(":", 1)[1]
        return ""


def agent_path(name: str) -> tuple[Path, dict[str, str]]:
    """Installed agent (as pacemaker-execd runs it) or the repo shim with lib on the path."""
    installed = OCF_DIR / name
    if installed.exists():
        return installed, {}
    return ROOT / "agents" / name, {"PYTHONPATH": str(ROOT / "lib")}


def run_agent(
    name: str,
    action: str,
    params: Mapping[str, str],
    *,
    interval_ms: int | None = None,
    timeout_ms: int = 20000,
    check_level: int | None = None,
    extra_env: Mapping[str, str] | None = None,
    via: Sequence[str] = (),
) -> AgentResult:
    """Run one action with a clean, execd-like environment.

    ``via`` prefixes the command, e.g. the systemd lab's ``boot.sh exec`` to run the
    agent inside its container (the environment passes through)."""
    path, env = agent_path(name)
    env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", **env,
           "OCF_ROOT": "/usr/lib/ocf", "OCF_RESOURCE_INSTANCE": f"test-{name}",
           "OCF_RESKEY_CRM_meta_timeout": str(timeout_ms), **(extra_env or {})}
    env.update({f"OCF_RESKEY_{k}": v for k, v in params.items()})
    if interval_ms is not None:
        env["OCF_RESKEY_CRM_meta_interval"] = str(interval_ms)
    if check_level is not None:
        env["OCF_CHECK_LEVEL"] = str(check_level)
    started = time.monotonic()
    done = subprocess.run([*via, str(path), action], env=env, capture_output=True, text=True,
                          timeout=timeout_ms / 1000 + 30, check=False)
    return AgentResult(done.returncode, done.stdout, done.stderr, time.monotonic() - started)


def cloud_params(tmp: Path, name: str = "sandbox") -> dict[str, str]:
    """``cloud``/``clouds_yaml`` parameters naming a root-only clouds.yaml under ``tmp``.

    Its credentials resolve without contacting anything (nothing listens on its auth_url
    unless the Nova lab runs): for agents' validate-all, probes and cheap monitors."""
    clouds = tmp / "clouds.yaml"
    clouds.touch(mode=0o600)
    clouds.write_text(
        f"clouds:\n  {name}:\n    auth:\n      auth_url: http://127.0.0.1:5000/v3\n"
        "      username: admin\n      password: sandbox-pw\n      project_name: admin\n"
        "      user_domain_name: Default\n      project_domain_name: Default\n")
    return {"cloud": name, "clouds_yaml": str(clouds)}


def libvirtd_sandbox(tmp: Path) -> dict[str, str]:
    """libvirtd agent parameters that keep a test daemon's sockets and pid file under ``tmp``."""
    sock_dir = tmp / "libvirt-run"
    sock_dir.mkdir(exist_ok=True)
    config = tmp / "libvirtd.conf"
    config.write_text(f'unix_sock_dir = "{sock_dir}"\n')
    return {
        "config": str(config),
        "pidfile": str(tmp / "libvirtd.pid"),
        "socket": str(sock_dir / "libvirt-sock"),
        "uri": f"qemu:///system?socket={sock_dir}/libvirt-sock-ro",
        "service_manager": "direct",
    }


def pid_from(pidfile: str) -> int:
    """The pid recorded in a pid file."""
    return int(Path(pidfile).read_text().strip())


def process_gone(pid: int) -> bool:
    """True when no live (non-zombie) process has this pid."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return True
    return state in ("Z", "X") or not os.path.exists(f"/proc/{pid}")


def install_project() -> None:
    """``make install``: the agents where Pacemaker looks for them, the package where
    /usr/bin/python3 finds it. RuntimeError with make's last words when it fails."""
    done = subprocess.run(["make", "-s", "-C", str(ROOT), "install"], capture_output=True,
                          text=True, timeout=300, check=False)  # fmt: skip
    if done.returncode != 0:
        raise RuntimeError(f"make install failed: {done.stderr.strip()[-1000:]}")
