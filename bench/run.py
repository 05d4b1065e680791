"""Benchmark mockidp with one command: start `mockidp serve` on loopback, load it with wrk, report.

    /work/venv/bin/python bench/run.py            # see bench/README.md for the options

Installs wrk from Debian if it is missing, starts the server on a free 127.0.0.1 port with a
throw-away data dir, runs each scenario (warm-up, then a measured run with `wrk --latency`), reads
the peak RSS (VmHWM) of every uvicorn worker after each scenario, and prints a markdown table that
is also written to bench/results/latest.md. Only 127.0.0.1 is ever loaded.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import resource
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType

BENCH_DIR = Path(__file__).resolve().parent
REPO = BENCH_DIR.parent
CHECK_LUA = BENCH_DIR / "wrk" / "check.lua"
DEFAULT_OUT = BENCH_DIR / "results" / "latest.md"
HOST = "127.0.0.1"  # the only address this benchmark ever sends traffic to

TENANT = "72f988bf-0000-4000-8000-000000000001"
TOKEN_BODY = (
    "grant_type=client_credentials&client_id=1df771d6-ef9c-473e-af87-cafa8928e024"
    "&client_secret=testClient-secret-value-1"
    "&scope=api%3A%2F%2F8d138478-d3a3-47f5-a233-1408cd6baae4%2F.default"
)
FORM = "application/x-www-form-urlencoded"

TARGET_TOKENS_PER_S = 1200.0
TARGET_JWKS_PER_S = 5000.0
TARGET_RSS_MB = 100.0


@dataclass(frozen=True)
class Scenario:
    name: str
    label: str
    path: str
    method: str = "GET"
    body: str = ""
    content_type: str = ""
    expect: str = ""  # every 200 body must contain this
    gateway: bool = False  # on the API Management gateway's port, with a token got at preflight
    headers: tuple[tuple[str, str], ...] = ()

    def env(self) -> dict[str, str]:
        return {"BENCH_METHOD": self.method, "BENCH_BODY": self.body,
                "BENCH_CONTENT_TYPE": self.content_type, "BENCH_EXPECT": self.expect,
                "BENCH_HEADERS": "\n".join(f"{k}: {v}" for k, v in self.headers)}


SCENARIOS: tuple[Scenario, ...] = (
    Scenario("token", "v2 client-credentials token", f"/{TENANT}/oauth2/v2.0/token", method="POST",
             body=TOKEN_BODY, content_type=FORM, expect='"access_token":"ey'),
    Scenario("jwks", "JWKS (v2 keys)", f"/{TENANT}/discovery/v2.0/keys", expect='"keys":['),
    Scenario("discovery", "OIDC discovery (v2)", f"/{TENANT}/v2.0/.well-known/openid-configuration",
             expect='"token_endpoint":'),
    # The demo's contoso-apim: subscription key, validate-jwt (signature, aud, iss, azp), forward-request to
    # the built-in echo function on the main port, its answer back: the whole gateway hop.
    Scenario("gateway", "gateway: validate-jwt to the echo function", "/backend2/hello", gateway=True,
             expect='"azp": "1df771d6-ef9c-473e-af87-cafa8928e024"'),
)
SUBSCRIPTION_KEY = "demo-subscription-key-1"


@dataclass
class WrkResult:
    requests: int
    rps: float
    latency_ms: dict[str, float]  # "50", "75", "90", "99" -> milliseconds
    socket_errors: dict[str, int]
    non_2xx_3xx: int
    ok: int
    non200: int
    badbody: int
    statuses: str

    @property
    def errors(self) -> int:
        return self.non200 + self.badbody + self.non_2xx_3xx + sum(self.socket_errors.values())

    @property
    def valid(self) -> bool:
        return self.errors == 0 and self.ok > 0


@dataclass
class Usage:
    """Where the CPU went during a measured run, in percent of one core (2 cores = 200 %)."""

    workers: dict[int, float]  # pid -> % of a core
    wrk: float
    machine: float  # every process on the machine, wrk and the workers included
    connections: dict[int, int]  # pid -> established wrk connections, sampled mid-run

    @property
    def others(self) -> float:
        """Anything else running on the machine (other users' jobs, the kernel's own threads)."""
        return max(self.machine - sum(self.workers.values()) - self.wrk, 0.0)


@dataclass
class Row:
    access_log: bool
    scenario: Scenario
    result: WrkResult
    usage: Usage
    worker_hwm_mb: dict[int, float] = field(default_factory=dict)  # pid -> VmHWM after the scenario
    runs: list[WrkResult] = field(default_factory=list)  # every measured run; result is the median one

    @property
    def errors(self) -> int:
        return sum(run.errors for run in self.runs)

    @property
    def valid(self) -> bool:
        return all(run.valid for run in self.runs)


# ---------------------------------------------------------------- tools


def ensure_wrk() -> str:
    """wrk from Debian; installed with apt-get when missing (the benchmark runs as root)."""
    found = shutil.which("wrk")
    if found:
        return found
    print("bench: wrk not found, installing it with apt-get ...", file=sys.stderr)
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    install = ["apt-get", "install", "-y", "-q", "wrk"]
    if subprocess.run(install, env=env, stdout=subprocess.DEVNULL, check=False).returncode != 0:
        subprocess.run(["apt-get", "update", "-q"], env=env, stdout=subprocess.DEVNULL, check=True)
        subprocess.run(install, env=env, stdout=subprocess.DEVNULL, check=True)
    found = shutil.which("wrk")
    if not found:
        raise SystemExit("bench: wrk is still missing after apt-get install")
    return found


SHIPPED = BENCH_DIR / ".shipped"  # mockidp as the image installs it (git-ignored)
_installed: list[str] = []


def install_shipped() -> None:
    """mockidp as the image installs it (the Dockerfile's `pip install .`: its own dependencies and nothing
    else), into bench/.shipped, from this checkout as it is now; a reinstall takes seconds. The servers the
    bench starts run that copy. The test environment has packages a worker imports when they are there and
    no user's server has (httpx's HTTP/2 stack, loaded at the gateway's first forwarded call: 1.4 MB of each
    worker; OpenTelemetry's API, at start), and its editable install, run with PYTHONDONTWRITEBYTECODE set as
    on this project's machines, would compile every module at every start; pip compiles what it installs."""
    python = SHIPPED / "bin" / "python"
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(SHIPPED)], check=True)
    print(f"bench: installing mockidp from {REPO} into {SHIPPED} (pip install .) ...", file=sys.stderr, flush=True)
    # From a copy of the checkout: setuptools builds in the source tree, and its build/ would keep the
    # modules a later change deletes and put them in the next wheel.
    with tempfile.TemporaryDirectory(prefix="mockidp-shipped-") as tmp:
        source = Path(tmp) / "mockidp"
        shutil.copytree(REPO, source, ignore=shutil.ignore_patterns(
            ".git", ".venv", ".shipped", "tests", "build", "*.egg-info", "__pycache__", "node_modules", "results"))
        subprocess.run([str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", str(source)],
                       check=True, stdout=subprocess.DEVNULL)
    _installed[:] = [str(SHIPPED / "bin" / "mockidp")]


def mockidp_command() -> list[str]:
    """The installed copy (install_shipped), else this environment's `mockidp`."""
    if _installed:
        return list(_installed)
    script = Path(sys.executable).with_name("mockidp")
    if script.exists():
        return [str(script)]
    on_path = shutil.which("mockidp")
    return [on_path] if on_path else [sys.executable, "-m", "mockidp"]


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


# ---------------------------------------------------------------- /proc


def _ppid(pid: int) -> int | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # "pid (comm) state ppid ...": comm may contain spaces and parentheses
    return int(stat.rsplit(")", 1)[1].split()[1])


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def worker_pids(parent: int) -> list[int]:
    """uvicorn workers: the parent's children forked from it (its command line; Linux) or started by
    multiprocessing.spawn (elsewhere), not a resource tracker."""
    pids = []
    command = _cmdline(parent)
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and _ppid(int(entry.name)) == parent:
            pid = int(entry.name)
            cmdline = _cmdline(pid)
            if "multiprocessing.spawn" in cmdline or (cmdline == command and command):
                pids.append(pid)
    return sorted(pids)


def _cpu_ticks(pid: int) -> int:
    """utime + stime of a process, in clock ticks."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0
    return int(fields[11]) + int(fields[12])


def _machine_busy_ticks() -> int:
    """Busy clock ticks of all CPUs together (everything but idle and iowait)."""
    values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    return sum(values[:8]) - values[3] - values[4]


def wait_for_quiet(max_wait: float, *, threshold: float = 15.0) -> float:
    """Wait (up to max_wait seconds) until the machine is nearly idle between runs, so that other jobs
    on a shared machine disturb the measurement less. Returns the busy % (of all CPUs) last seen."""
    deadline = time.monotonic() + max_wait
    told = False
    while True:
        before, started = _machine_busy_ticks(), time.monotonic()
        time.sleep(1.0)
        busy = (_machine_busy_ticks() - before) * 100.0 / (
            os.sysconf("SC_CLK_TCK") * (time.monotonic() - started) * (os.cpu_count() or 1))
        if busy < threshold or time.monotonic() >= deadline:
            return busy
        if not told:
            print(f"bench: the machine is {busy:.0f} % busy with other work; waiting up to {max_wait:.0f} s",
                  file=sys.stderr)
            told = True


def connections_per_worker(port: int, workers: Sequence[int]) -> dict[int, int]:
    """Established TCP connections on the server's port, by the worker holding them."""
    inodes: set[str] = set()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        cols = line.split()
        if cols[3] == "01" and int(cols[1].rsplit(":", 1)[1], 16) == port:
            inodes.add(cols[9])
    counts: dict[int, int] = {}
    for pid in workers:
        n = 0
        with contextlib.suppress(OSError):
            for fd in Path(f"/proc/{pid}/fd").iterdir():
                with contextlib.suppress(OSError):
                    link = os.readlink(fd)
                    if link.startswith("socket:[") and link[8:-1] in inodes:
                        n += 1
        counts[pid] = n
    return counts


def vm_hwm_mb(pid: int) -> float | None:
    """Peak resident set size of a process (VmHWM), in MB (10^6 bytes)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024 / 1e6
    except OSError:
        return None
    return None


# ---------------------------------------------------------------- the server


@dataclass
class Server:
    command: list[str]
    process: subprocess.Popen[bytes]
    port: int
    base_url: str
    log_path: Path
    gateway_port: int = 0

    @property
    def gateway_url(self) -> str:
        return f"http://{HOST}:{self.gateway_port}"


def _get(url: str, timeout: float = 2.0) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return int(response.status), response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def _wait_healthy(server: Server, workers: int, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(f"mockidp exited with {server.process.returncode}; see its log:\n"
                               + server.log_path.read_text(errors="replace")[-4000:])
        with contextlib.suppress(OSError):
            status, _ = _get(f"{server.base_url}/_mockidp/health", timeout=1.0)
            if status == 200 and len(worker_pids(server.process.pid)) == workers:
                # every worker must be up too: the first 200 may come from the first worker alone
                time.sleep(1.0)
                return
        time.sleep(0.2)
    raise RuntimeError(f"mockidp did not become healthy within {timeout:.0f} s")


def _stop(server: Server) -> None:
    process = server.process
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)  # uvicorn's supervisor stops its workers, then exits
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=5)
    # anything of its own session left behind (a worker that outlived its parent)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)


@contextlib.contextmanager
def running_server(*, workers: int, access_log: bool, data_dir: Path, seed: Path,
                   traces: bool = True) -> Iterator[Server]:
    port, gateway_port = free_port(), free_port()
    command = [*mockidp_command(), "serve", "--seed", str(seed), "--no-tls", "--workers", str(workers),
               "--host", HOST, "--port", str(port), "--gateway-port", str(gateway_port), "--data-dir", str(data_dir),
               "--access-log" if access_log else "--no-access-log", "--traces" if traces else "--no-traces"]
    log_path = data_dir.parent / f"server-{'log' if access_log else 'nolog'}.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith("MOCKIDP_")}
    with open(log_path, "wb") as log:
        process = subprocess.Popen(command, cwd=REPO, stdout=log, stderr=subprocess.STDOUT, env=env,
                                   stdin=subprocess.DEVNULL, start_new_session=True)
    server = Server(command, process, port, f"http://{HOST}:{port}", log_path, gateway_port)
    try:
        _wait_healthy(server, workers)
        yield server
    finally:
        _stop(server)


def gateway_token(server: Server) -> str:
    """A v2 token for testBackend2, asked for as clients do (Host localhost: the issuer the demo policy's
    login.microsoftonline.com openid-config is answered with)."""
    request = urllib.request.Request(f"{server.base_url}/{TENANT}/oauth2/v2.0/token", data=TOKEN_BODY.encode(),
                                     method="POST", headers={"Content-Type": FORM,
                                                             "Host": f"localhost:{server.port}"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return str(json.loads(response.read())["access_token"])


def with_token(server: Server, scenario: Scenario) -> Scenario:
    if not scenario.gateway:
        return scenario
    return replace(scenario, headers=(("Authorization", f"Bearer {gateway_token(server)}"),
                                      ("Ocp-Apim-Subscription-Key", SUBSCRIPTION_KEY)))


def url_of(server: Server, scenario: Scenario) -> str:
    return (server.gateway_url if scenario.gateway else server.base_url) + scenario.path


def request(url: str, scenario: Scenario) -> tuple[int, bytes]:
    """One request of a scenario by hand: its status and body (also bench/compare.py's check)."""
    data = scenario.body.encode() if scenario.method == "POST" else None
    req = urllib.request.Request(url, data=data, method=scenario.method)
    if scenario.content_type:
        req.add_header("Content-Type", scenario.content_type)
    for name, value in scenario.headers:
        req.add_header(name, value)
    try:
        with urllib.request.urlopen(req, timeout=10) as response:
            return int(response.status), response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def preflight(server: Server, scenario: Scenario) -> None:
    """One request by hand before loading: the scenario must answer 200 with the expected body."""
    status, body = request(url_of(server, scenario), scenario)
    if status != 200 or scenario.expect.encode() not in body:
        raise RuntimeError(f"{scenario.name}: preflight got {status}: {body[:300]!r}")
    json.loads(body)


# ---------------------------------------------------------------- wrk

_UNIT_MS = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3, "h": 3600e3}
_DURATION = re.compile(r"^\s*([\d.]+)(us|ms|s|m|h)\s*$")


def _ms(text: str) -> float:
    match = _DURATION.match(text)
    if not match:
        raise ValueError(f"unreadable wrk duration {text!r}")
    return float(match.group(1)) * _UNIT_MS[match.group(2)]


def parse_wrk(output: str) -> WrkResult:
    latency = {m.group(1): _ms(m.group(2))
               for m in re.finditer(r"^\s+(50|75|90|99)%\s+(\S+)\s*$", output, re.MULTILINE)}
    total = re.search(r"^\s+(\d+) requests in ", output, re.MULTILINE)
    rps = re.search(r"^Requests/sec:\s+([\d.]+)", output, re.MULTILINE)
    check = re.search(r"^BENCH_CHECK ok=(\d+) non200=(\d+) badbody=(\d+) statuses=(\S*)", output,
                      re.MULTILINE)
    if not (total and rps and check and len(latency) == 4):
        raise RuntimeError(f"could not read wrk's output:\n{output}")
    sockets = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output)
    socket_errors = dict(zip(("connect", "read", "write", "timeout"),
                             (int(g) for g in sockets.groups()), strict=True)) if sockets else {}
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    return WrkResult(
        requests=int(total.group(1)), rps=float(rps.group(1)), latency_ms=latency, socket_errors=socket_errors,
        non_2xx_3xx=int(non_2xx.group(1)) if non_2xx else 0, ok=int(check.group(1)),
        non200=int(check.group(2)), badbody=int(check.group(3)), statuses=check.group(4),
    )


def wrk_command(wrk: str, url: str, *, threads: int, connections: int, seconds: int) -> list[str]:
    return [wrk, f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "--timeout", "5s", "--latency",
            "-s", str(CHECK_LUA), url]


def run_wrk(command: list[str], scenario: Scenario, *, port: int, workers: Sequence[int],
            seconds: int) -> tuple[WrkResult, Usage]:
    """Run wrk to the end; meanwhile account for CPU and sample the connections of each worker."""
    tick = os.sysconf("SC_CLK_TCK")
    before = {pid: _cpu_ticks(pid) for pid in workers}
    children_before = resource.getrusage(resource.RUSAGE_CHILDREN)
    machine_before, started = _machine_busy_ticks(), time.monotonic()
    with subprocess.Popen(command, env={**os.environ, **scenario.env()}, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, text=True) as wrk:
        try:
            time.sleep(seconds / 2)
            connections = connections_per_worker(port, workers)
            stdout, stderr = wrk.communicate(timeout=seconds + 120)
        except BaseException:
            wrk.kill()  # Ctrl-C, SIGTERM or a hang: do not leave wrk loading a server that is going away
            raise
    elapsed = time.monotonic() - started
    share = 100.0 / (tick * elapsed)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)  # wrk is the only child reaped meanwhile
    wrk_seconds = (children.ru_utime - children_before.ru_utime) + (children.ru_stime - children_before.ru_stime)
    usage = Usage(workers={pid: (_cpu_ticks(pid) - before[pid]) * share for pid in workers},
                  wrk=wrk_seconds * 100.0 / elapsed, machine=(_machine_busy_ticks() - machine_before) * share,
                  connections=connections)
    if wrk.returncode != 0:
        raise RuntimeError(f"wrk failed ({wrk.returncode}):\n{stdout}\n{stderr}")
    return parse_wrk(stdout), usage


# ---------------------------------------------------------------- report


def _fmt_ms(ms: float) -> str:
    return f"{ms:.2f} ms" if ms < 100 else f"{ms:.0f} ms"


def _verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def _by_worker(values: dict[int, float] | dict[int, int], fmt: str) -> str:
    return " / ".join(format(v, fmt) for _, v in sorted(values.items()))


def render(rows: Sequence[Row], *, server_cmds: Sequence[str], wrk_cmd: str, bench_cmd: str, threads: int,
           connections: int, warmup: int, duration: int, repeat: int, loadavg: str) -> str:
    lines = [
        f"# mockidp benchmark — {datetime.now(UTC).strftime('%Y-%m-%d %H:%M UTC')}",
        "",
        f"- command: `{bench_cmd}`",
        *(f"- server: `{cmd}`" for cmd in server_cmds),
        f"- load: `{wrk_cmd}` (wrk {threads} thread(s), {connections} connections, {warmup} s warm-up "
        f"then {duration} s measured, {repeat} time(s); the median run is shown)",
        f"- machine: {os.cpu_count()} CPUs shared by wrk and the workers; load average before the run: {loadavg}",
        "- peak RSS: VmHWM of each uvicorn worker from /proc after the scenario (cumulative over the server's "
        "life; one server per access-log setting). CPU: % of one core during the measured run; "
        "\"other\" is every other process on the machine (other jobs, kernel threads). conns: wrk's "
        "connections held by each worker mid-run.",
        "",
        "| access log | scenario | requests/s | all runs (req/s) | p50 | p75 | p90 | p99 | errors "
        "| peak RSS/worker | CPU/worker | CPU wrk | CPU other | conns/worker |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for row in rows:
        r, u = row.result, row.usage
        errors = str(row.errors) if row.valid else f"**{row.errors} (invalid)**"
        runs = " / ".join(f"{run.rps:,.0f}" for run in row.runs)
        lines.append(
            f"| {'on' if row.access_log else 'off'} | {row.scenario.label} | {r.rps:,.0f} | {runs} | "
            + " | ".join(_fmt_ms(r.latency_ms[p]) for p in ("50", "75", "90", "99"))
            + f" | {errors} | {_by_worker(row.worker_hwm_mb, '.1f')} MB"
            f" | {_by_worker(u.workers, '.0f')} % | {u.wrk:.0f} % | {u.others:.0f} % "
            f"| {_by_worker(u.connections, 'd')} |")
    for row in rows:
        for r in row.runs:
            if not r.valid:
                lines.append(f"\n{row.scenario.name} (access log {'on' if row.access_log else 'off'}), a run "
                             f"of {r.requests} requests: non-200 {r.non200} [{r.statuses}], bad bodies "
                             f"{r.badbody}, non-2xx/3xx {r.non_2xx_3xx}, socket errors {r.socket_errors}")
    lines += ["", "| target | access log | measured | result |", "| --- | --- | ---: | --- |"]
    for access_log in sorted({row.access_log for row in rows}, reverse=True):
        subset = [row for row in rows if row.access_log == access_log]
        onoff = "on" if access_log else "off"
        for name, target in (("token", TARGET_TOKENS_PER_S), ("jwks", TARGET_JWKS_PER_S)):
            for row in subset:
                if row.scenario.name == name:
                    ok = row.valid and row.result.rps >= target
                    lines.append(f"| {row.scenario.label} >= {target:,.0f}/s | {onoff} | "
                                 f"{row.result.rps:,.0f}/s | {_verdict(ok)} |")
        peaks: dict[int, float] = {}
        for row in subset:
            for pid, mb in row.worker_hwm_mb.items():
                peaks[pid] = max(peaks.get(pid, 0.0), mb)
        if peaks:
            lines.append(f"| peak RSS per worker <= {TARGET_RSS_MB:.0f} MB | {onoff} | "
                         f"{_by_worker(peaks, '.1f')} MB | {_verdict(max(peaks.values()) <= TARGET_RSS_MB)} |")
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------- main


def _seed_argument(seed: Path) -> Path:
    """The seed as the server (started in the repo root) sees it: relative when it lies in the repo."""
    absolute = seed.resolve()
    return absolute.relative_to(REPO) if absolute.is_relative_to(REPO) else absolute


def _raise_interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--duration", type=int, default=12, help="measured seconds per scenario (default 12)")
    p.add_argument("--warmup", type=int, default=3, help="warm-up seconds per scenario (default 3)")
    p.add_argument("--threads", type=int, default=2, help="wrk threads (default 2)")
    p.add_argument("--connections", type=int, default=32, help="wrk connections (default 32)")
    p.add_argument("--repeat", type=int, default=3,
                   help="measured runs per scenario; the median one is reported (default 3)")
    p.add_argument("--wait-idle", type=float, default=30.0,
                   help="before each measured run, wait up to this many seconds for the machine to be "
                        "nearly idle (other jobs on a shared machine); 0 to skip (default 30)")
    p.add_argument("--workers", type=int, default=2, help="uvicorn workers (default 2)")
    p.add_argument("--access-log", choices=("on", "off", "both"), default="both",
                   help="measure with the access log on, off, or both (default both)")
    p.add_argument("--traces", choices=("on", "off"), default="on",
                   help="serve with decision traces recorded (default on, as mockidp serves by default)")
    p.add_argument("--scenario", action="append", choices=[s.name for s in SCENARIOS],
                   help="run only these scenarios (repeatable; default all)")
    p.add_argument("--seed", type=Path, default=REPO / "seed" / "demo.yaml", help="default seed/demo.yaml")
    p.add_argument("--out", type=Path, default=DEFAULT_OUT,
                   help="markdown report (default bench/results/latest.md)")
    return p.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGINT, signal.default_int_handler)  # even when started with SIGINT ignored
    signal.signal(signal.SIGTERM, _raise_interrupt)  # a SIGTERM stops the server like Ctrl-C does
    wrk = ensure_wrk()
    install_shipped()
    scenarios = [s for s in SCENARIOS if not args.scenario or s.name in args.scenario]
    settings = {"on": [True], "off": [False], "both": [True, False]}[args.access_log]
    bench_cmd = shlex.join([Path(sys.executable).as_posix(), *sys.argv])
    loadavg = " ".join(Path("/proc/loadavg").read_text().split()[:3])
    rows: list[Row] = []
    server_cmds: list[str] = []
    wrk_cmd = ""
    try:
        with tempfile.TemporaryDirectory(prefix="mockidp-bench-") as tmp:
            for access_log in settings:
                data_dir = Path(tmp) / f"data-{'log' if access_log else 'nolog'}"
                with running_server(workers=args.workers, access_log=access_log, data_dir=data_dir,
                                    seed=_seed_argument(args.seed), traces=args.traces == "on") as server:
                    server_cmds.append(shlex.join(server.command))
                    workers = worker_pids(server.process.pid)
                    print(f"bench: access log {'on' if access_log else 'off'}: mockidp pid "
                          f"{server.process.pid}, workers {workers}, {server.base_url}", file=sys.stderr)
                    for scenario in scenarios:
                        scenario = with_token(server, scenario)  # the same scenario, with its token
                        preflight(server, scenario)
                        url = url_of(server, scenario)
                        port = server.gateway_port if scenario.gateway else server.port
                        options = {"threads": args.threads, "connections": args.connections}
                        if args.warmup > 0:
                            run_wrk(wrk_command(wrk, url, seconds=args.warmup, **options), scenario,
                                    port=port, workers=workers, seconds=args.warmup)
                        command = wrk_command(wrk, url, seconds=args.duration, **options)
                        wrk_cmd = shlex.join([*command[:-1], f"http://{HOST}:PORT/..."])
                        runs: list[tuple[WrkResult, Usage]] = []
                        for _ in range(args.repeat):
                            if args.wait_idle > 0:
                                wait_for_quiet(args.wait_idle)
                            result, usage = run_wrk(command, scenario, port=port, workers=workers,
                                                    seconds=args.duration)
                            runs.append((result, usage))
                            p50, p99 = _fmt_ms(result.latency_ms["50"]), _fmt_ms(result.latency_ms["99"])
                            print(f"bench:   {scenario.name:<9} {result.rps:>9,.0f} req/s  p50 {p50}  p99 {p99}"
                                  f"  errors {result.errors}  CPU {_by_worker(usage.workers, '.0f')} % wrk "
                                  f"{usage.wrk:.0f} % other {usage.others:.0f} %  "
                                  f"conns {_by_worker(usage.connections, 'd')}",
                                  file=sys.stderr)
                        hwm = {pid: mb for pid in workers if (mb := vm_hwm_mb(pid)) is not None}
                        median, median_usage = sorted(runs, key=lambda run: run[0].rps)[len(runs) // 2]
                        rows.append(Row(access_log, scenario, median, median_usage, hwm,
                                        [result for result, _ in runs]))
    except KeyboardInterrupt:
        print("bench: interrupted; the server was stopped", file=sys.stderr)
        return 130
    except RuntimeError as exc:  # the server would not start, a preflight failed, wrk failed
        print(f"bench: {exc}", file=sys.stderr)
        return 2
    report = render(rows, server_cmds=server_cmds, wrk_cmd=wrk_cmd, bench_cmd=bench_cmd, threads=args.threads,
                    connections=args.connections, warmup=args.warmup, duration=args.duration,
                    repeat=args.repeat, loadavg=loadavg)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(report)
    print()
    print(report)
    print(f"(written to {args.out})")
    return 0 if all(row.valid for row in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
