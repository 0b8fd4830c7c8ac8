"""nginx in front of the webhook processes, run from the documented configuration (docs/deploy/nginx.conf).

The site file an operator installs is the one started here: only its lines marked `# test:` are replaced (a free
loopback port instead of 443, a self-signed certificate for 127.0.0.1, the ports of the processes started), and
each marked line must be found, so the documentation and the tests cannot drift apart silently. nginx runs as
the current user in a folder of its own (`-p DIR`, `daemon off;`, pid, logs and temporary files inside), beside
anything the machine runs. Without the `nginx` binary (Debian: `apt-get install nginx-light`) every start raises
`NginxUnavailable` and the caller decides (the e2e test skips, or fails under CI; the benchmark says so).
"""

from __future__ import annotations

import getpass
import os
import shutil
import signal
import socket
import ssl
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

SITE = Path(__file__).resolve().parent.parent / "docs" / "deploy" / "nginx.conf"
START_TIMEOUT = 10.0
STOP_TIMEOUT = 5.0
TEMP_KINDS = ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")


class NginxUnavailable(RuntimeError):
    """No nginx or openssl binary, or nginx refused the configuration; the message says which."""


def site_config(text: str, *, port: int, upstreams: Sequence[int], certificate: Path, key: Path) -> str:
    """The documented site with its `# test:` lines replaced; raises ValueError when a marked line is missing."""
    found = {"listen": 0, "upstream": 0, "certificate": 0, "certificate key": 0}
    lines: list[str] = []
    for line in text.splitlines():
        code, marker, mark = line.partition("# test: ")
        mark = mark.strip()
        if not marker:
            lines.append(line)
            continue
        if mark not in found:
            raise ValueError(f"unknown `# test:` mark {mark!r} in {SITE.name}")
        found[mark] += 1
        indent = code[: len(code) - len(code.lstrip())]
        if mark == "listen" and found[mark] == 1:  # the IPv4 line; the IPv6 one is dropped
            lines.append(f"{indent}listen 127.0.0.1:{port} ssl;")
        elif mark == "upstream" and found[mark] == 1:  # the first upstream line stands for all of them
            options = code.strip().removesuffix(";").split()[2:]
            lines.extend(f"{indent}server 127.0.0.1:{p} {' '.join(options)};" for p in upstreams)
        elif mark == "certificate":
            lines.append(f"{indent}ssl_certificate {certificate};")
        elif mark == "certificate key":
            lines.append(f"{indent}ssl_certificate_key {key};")
    missing = [mark for mark, count in found.items() if count == 0]
    if missing or found["listen"] != 2:
        raise ValueError(f"{SITE.name} no longer has the marked lines {missing or ['listen (IPv4 and IPv6)']}")
    return "\n".join(lines) + "\n"


def main_config(folder: Path, site: Path, *, workers: int = 1, access_log: bool = True) -> str:
    """nginx.conf around the site: everything nginx writes stays in `folder`. As root, the workers keep the
    current user, so they can read `folder` (a private temporary folder, which `nobody` could not)."""
    user = f"user {getpass.getuser()};\n" if os.geteuid() == 0 else ""
    logged = f"{folder / 'access.log'} upstreams" if access_log else "off"
    temp = "\n".join(f"    {kind}_temp_path {folder / 'tmp' / kind};" for kind in TEMP_KINDS)
    return (
        f"{user}daemon off;\nworker_processes {workers};\npid {folder / 'nginx.pid'};\n"
        f"error_log {folder / 'error.log'} warn;\n"
        "events {\n    worker_connections 1024;\n}\n"
        "http {\n"
        "    log_format upstreams '$remote_addr \"$request\" $status upstream=$upstream_addr $request_time';\n"
        f"    access_log {logged};\n{temp}\n"
        f"    include {site};\n}}\n"
    )


def self_signed(folder: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 (subjectAltName IP), valid a day, and its key: what Let's Encrypt gives in use."""
    if shutil.which("openssl") is None:
        raise NginxUnavailable("`openssl` is not installed (needed for the test certificate)")
    certificate, key = folder / "cert.pem", folder / "key.pem"
    done = subprocess.run(
        [
            *("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1"),
            *("-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(certificate)),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    if done.returncode != 0:
        raise NginxUnavailable(f"openssl could not make a certificate: {done.stderr.strip()}")
    return certificate, key


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@dataclass
class Nginx:
    """A running nginx serving the documented site on https://127.0.0.1:`port`."""

    process: subprocess.Popen[bytes]
    port: int
    folder: Path
    certificate: Path

    @property
    def base(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    def client_tls(self) -> ssl.SSLContext:
        """A TLS context that trusts exactly this nginx's certificate (verification stays on)."""
        return ssl.create_default_context(cafile=str(self.certificate))

    def errors(self) -> str:
        path = self.folder / "error.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def stop(self) -> None:
        """SIGQUIT is nginx's graceful stop; SIGKILL if it has not ended in time."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGQUIT)
            try:
                self.process.wait(STOP_TIMEOUT)
                return
            except subprocess.TimeoutExpired:
                self.process.kill()
        self.process.wait(STOP_TIMEOUT)


def start(
    folder: Path,
    upstreams: Sequence[int],
    *,
    port: int | None = None,
    certificate: tuple[Path, Path] | None = None,
    workers: int = 1,
    access_log: bool = True,
) -> Nginx:
    """Render the documented site for `upstreams`, check it with `nginx -t`, start nginx on `port` (a free one by
    default) with `certificate` (a fresh self-signed one by default), and return once it listens."""
    binary = shutil.which("nginx") or next((p for p in ("/usr/sbin/nginx",) if Path(p).exists()), None)
    if binary is None:
        raise NginxUnavailable("`nginx` is not installed (Debian: apt-get install nginx-light)")
    folder.mkdir(parents=True, exist_ok=True)
    for kind in TEMP_KINDS:
        (folder / "tmp" / kind).mkdir(parents=True, exist_ok=True)
    cert, key = certificate or self_signed(folder)
    port = port or free_port()
    site = folder / "agentcoach.conf"
    site.write_text(
        site_config(SITE.read_text(encoding="utf-8"), port=port, upstreams=upstreams, certificate=cert, key=key)
    )
    conf = folder / "nginx.conf"
    conf.write_text(main_config(folder, site, workers=workers, access_log=access_log))
    command = [binary, "-p", str(folder), "-c", str(conf), "-e", str(folder / "error.log")]
    checked = subprocess.run([*command, "-t"], capture_output=True, text=True, timeout=30, check=False)
    if checked.returncode != 0:
        raise NginxUnavailable(f"nginx -t refused the configuration:\n{checked.stderr}")
    with (folder / "stdout.log").open("wb") as log:
        process = subprocess.Popen(
            command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True
        )
    running = Nginx(process, port, folder, cert)
    deadline = time.monotonic() + START_TIMEOUT
    while process.poll() is None and time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return running
        except OSError:
            time.sleep(0.05)
    running.stop()
    raise NginxUnavailable(f"nginx did not start listening on {port}:\n{running.errors()}")
