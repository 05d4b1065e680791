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
from dataclasses import dataclass, field
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

    def env(self) -> dict[str, str]:
        return {"BENCH_METHOD": self.method, "BENCH_BODY": self.body,
                "BENCH_CONTENT_TYPE": self.content_type, "BENCH_EXPECT": self.expect}


SCENARIOS: tuple[Scenario, ...] = (
    Scenario("token", "v2 client-credentials token", f"/{TENANT}/oauth2/v2.0/token", method="POST",
             body=TOKEN_BODY, content_type=FORM, expect='"access_token":"ey'),
    Scenario("jwks", "JWKS (v2 keys)", f"/{TENANT}/discovery/v2.0/keys", expect='"keys":['),
    Scenario("discovery", "OIDC discovery (v2)", f"/{TENANT}/v2.0/.well-known/openid-configuration",
             expect='"token_endpoint":'),
)


@dataclass
class WrkResult:
    requests: int
    seconds: float
    rps: float
    latency_ms: dict[str, float]  # "50", "75", "90", "99" -> milliseconds
    socket_errors: dict[str, int]
    non_2xx_3xx: int
    ok: int
    non200: int
    badbody: int
    statuses: str
    raw: str

    @property
    def errors(self) -> int:
        return self.non200 + self.badbody + self.non_2xx_3xx + sum(self.socket_errors.values())

    @property
    def valid(self) -> bool:
        return self.errors == 0 and self.ok > 0


@dataclass
class Row:
    access_log: bool
    scenario: Scenario
    result: WrkResult
    worker_hwm_mb: dict[int, float] = field(default_factory=dict)  # pid -> VmHWM after the scenario


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


def mockidp_command() -> list[str]:
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
    """uvicorn workers: the parent's children started by multiprocessing.spawn (not its resource tracker)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and _ppid(int(entry.name)) == parent:
            pid = int(entry.name)
            if "multiprocessing.spawn" in _cmdline(pid):
                pids.append(pid)
    return sorted(pids)


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
    base_url: str
    log_path: Path


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
def running_server(*, workers: int, access_log: bool, data_dir: Path, seed: Path) -> Iterator[Server]:
    port = free_port()
    command = [*mockidp_command(), "serve", "--seed", str(seed), "--no-tls", "--workers", str(workers),
               "--host", HOST, "--port", str(port), "--data-dir", str(data_dir),
               "--access-log" if access_log else "--no-access-log"]
    log_path = data_dir.parent / f"server-{'log' if access_log else 'nolog'}.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith("MOCKIDP_")}
    with open(log_path, "wb") as log:
        process = subprocess.Popen(command, cwd=REPO, stdout=log, stderr=subprocess.STDOUT, env=env,
                                   stdin=subprocess.DEVNULL, start_new_session=True)
    server = Server(command, process, f"http://{HOST}:{port}", log_path)
    try:
        _wait_healthy(server, workers)
        yield server
    finally:
        _stop(server)


def preflight(server: Server, scenario: Scenario) -> None:
    """One request by hand before loading: the scenario must answer 200 with the expected body."""
    data = scenario.body.encode() if scenario.method == "POST" else None
    request = urllib.request.Request(server.base_url + scenario.path, data=data, method=scenario.method)
    if scenario.content_type:
        request.add_header("Content-Type", scenario.content_type)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            status, body = int(response.status), response.read()
    except urllib.error.HTTPError as exc:
        status, body = exc.code, exc.read()
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
    total = re.search(r"^\s+(\d+) requests in ([\d.]+)(us|ms|s|m|h),", output, re.MULTILINE)
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
        requests=int(total.group(1)), seconds=_ms(total.group(2) + total.group(3)) / 1e3,
        rps=float(rps.group(1)), latency_ms=latency, socket_errors=socket_errors,
        non_2xx_3xx=int(non_2xx.group(1)) if non_2xx else 0, ok=int(check.group(1)),
        non200=int(check.group(2)), badbody=int(check.group(3)), statuses=check.group(4), raw=output,
    )


def wrk_command(wrk: str, url: str, *, threads: int, connections: int, seconds: int) -> list[str]:
    return [wrk, f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "--timeout", "5s", "--latency",
            "-s", str(CHECK_LUA), url]


def run_wrk(command: list[str], scenario: Scenario) -> WrkResult:
    done = subprocess.run(command, env={**os.environ, **scenario.env()}, capture_output=True, text=True,
                          check=False, timeout=600)
    if done.returncode != 0:
        raise RuntimeError(f"wrk failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    return parse_wrk(done.stdout)


# ---------------------------------------------------------------- report


def _fmt_ms(ms: float) -> str:
    return f"{ms:.2f} ms" if ms < 100 else f"{ms:.0f} ms"


def _verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def render(rows: Sequence[Row], *, server_cmd: str, wrk_cmd: str, bench_cmd: str, threads: int,
           connections: int, warmup: int, duration: int) -> str:
    cpu = os.cpu_count()
    lines = [
        f"# mockidp benchmark — {datetime.now(UTC).strftime('%Y-%m-%d %H:%M UTC')}",
        "",
        f"- command: `{bench_cmd}`",
        f"- server: `{server_cmd}`",
        f"- load: `{wrk_cmd}` (wrk {threads} thread(s), {connections} connections, {warmup} s warm-up "
        f"then {duration} s measured; {cpu} CPUs shared by wrk and the workers)",
        "- peak RSS: VmHWM of each uvicorn worker from /proc, read after the scenario (cumulative over the "
        "server's life; one server per access-log setting)",
        "",
        "| access log | scenario | requests/s | p50 | p75 | p90 | p99 | requests | errors "
        "| peak RSS/worker |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for row in rows:
        r = row.result
        rss = max(row.worker_hwm_mb.values(), default=float("nan"))
        errors = str(r.errors) if r.valid else f"**{r.errors} (invalid)**"
        lines.append(
            f"| {'on' if row.access_log else 'off'} | {row.scenario.label} | {r.rps:,.0f} | "
            + " | ".join(_fmt_ms(r.latency_ms[p]) for p in ("50", "75", "90", "99"))
            + f" | {r.requests:,} | {errors} | {rss:.1f} MB |")
    for row in rows:
        r = row.result
        if not r.valid:
            lines.append(f"\n{row.scenario.name} (access log {'on' if row.access_log else 'off'}): "
                         f"non-200 {r.non200} [{r.statuses}], bad bodies {r.badbody}, "
                         f"non-2xx/3xx {r.non_2xx_3xx}, socket errors {r.socket_errors}")
    lines += ["", "| target | access log | measured | result |", "| --- | --- | ---: | --- |"]
    for access_log in sorted({row.access_log for row in rows}, reverse=True):
        subset = [row for row in rows if row.access_log == access_log]
        onoff = "on" if access_log else "off"
        for name, target in (("token", TARGET_TOKENS_PER_S), ("jwks", TARGET_JWKS_PER_S)):
            for row in subset:
                if row.scenario.name == name:
                    ok = row.result.valid and row.result.rps >= target
                    lines.append(f"| {row.scenario.label} >= {target:,.0f}/s | {onoff} | "
                                 f"{row.result.rps:,.0f}/s | {_verdict(ok)} |")
        peaks: dict[int, float] = {}
        for row in subset:
            for pid, mb in row.worker_hwm_mb.items():
                peaks[pid] = max(peaks.get(pid, 0.0), mb)
        if peaks:
            worst = max(peaks.values())
            per_worker = ", ".join(f"{mb:.1f}" for _, mb in sorted(peaks.items()))
            lines.append(f"| peak RSS per worker <= {TARGET_RSS_MB:.0f} MB | {onoff} | "
                         f"{per_worker} MB | {_verdict(worst <= TARGET_RSS_MB)} |")
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
    p.add_argument("--threads", type=int, default=1, help="wrk threads (default 1)")
    p.add_argument("--connections", type=int, default=32, help="wrk connections (default 32)")
    p.add_argument("--workers", type=int, default=2, help="uvicorn workers (default 2)")
    p.add_argument("--access-log", choices=("on", "off", "both"), default="both",
                   help="measure with the access log on, off, or both (default both)")
    p.add_argument("--scenario", action="append", choices=[s.name for s in SCENARIOS],
                   help="run only these scenarios (repeatable; default all)")
    p.add_argument("--seed", type=Path, default=REPO / "seed" / "demo.yaml", help="default seed/demo.yaml")
    p.add_argument("--out", type=Path, default=DEFAULT_OUT,
                   help="markdown report (default bench/results/latest.md)")
    return p.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, _raise_interrupt)  # a SIGTERM stops the server like Ctrl-C does
    wrk = ensure_wrk()
    scenarios = [s for s in SCENARIOS if not args.scenario or s.name in args.scenario]
    settings = {"on": [True], "off": [False], "both": [True, False]}[args.access_log]
    bench_cmd = shlex.join([Path(sys.executable).as_posix(), *sys.argv])
    rows: list[Row] = []
    server_cmd = wrk_cmd = ""
    try:
        with tempfile.TemporaryDirectory(prefix="mockidp-bench-") as tmp:
            for access_log in settings:
                data_dir = Path(tmp) / f"data-{'log' if access_log else 'nolog'}"
                with running_server(workers=args.workers, access_log=access_log, data_dir=data_dir,
                                    seed=_seed_argument(args.seed)) as server:
                    server_cmd = shlex.join(server.command)
                    workers = worker_pids(server.process.pid)
                    print(f"bench: access log {'on' if access_log else 'off'}: mockidp pid "
                          f"{server.process.pid}, workers {workers}, {server.base_url}", file=sys.stderr)
                    for scenario in scenarios:
                        preflight(server, scenario)
                        url = server.base_url + scenario.path
                        options = {"threads": args.threads, "connections": args.connections}
                        if args.warmup > 0:
                            run_wrk(wrk_command(wrk, url, seconds=args.warmup, **options), scenario)
                        command = wrk_command(wrk, url, seconds=args.duration, **options)
                        wrk_cmd = shlex.join([*command[:-1], "http://127.0.0.1:PORT/..."])
                        result = run_wrk(command, scenario)
                        hwm = {pid: mb for pid in workers if (mb := vm_hwm_mb(pid)) is not None}
                        rows.append(Row(access_log, scenario, result, hwm))
                        p50, p99 = _fmt_ms(result.latency_ms["50"]), _fmt_ms(result.latency_ms["99"])
                        print(f"bench:   {scenario.name:<9} {result.rps:>9,.0f} req/s  p50 {p50}  p99 {p99}  "
                              f"errors {result.errors}  peak RSS {max(hwm.values(), default=0):.1f} MB",
                              file=sys.stderr)
    except KeyboardInterrupt:
        print("bench: interrupted; the server was stopped", file=sys.stderr)
        return 130
    report = render(rows, server_cmd=server_cmd, wrk_cmd=wrk_cmd, bench_cmd=bench_cmd, threads=args.threads,
                    connections=args.connections, warmup=args.warmup, duration=args.duration)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(report)
    print()
    print(report)
    print(f"(written to {args.out})")
    return 0 if all(row.result.valid for row in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
