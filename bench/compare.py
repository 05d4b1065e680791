"""mockidp side by side with the Node tools people would pick instead (issue 11), in one run.

    python bench/compare.py                       # about 6 minutes with the defaults
    python bench/compare.py --rounds 1 --duration 4   # a quick look

Installs the peers (`oauth2-mock-server`, `oidc-provider`; bench/peers/package.json and its lock) with
`npm ci` into bench/peers/node_modules when missing, starts mockidp (2 workers, TLS off, traces on) and
both peers on 127.0.0.1, and loads each with wrk (1 thread, 32 connections) scenario by scenario, the
three targets interleaved within every round so that noise on a shared machine hits them alike. It also
measures, in the same run: the RSA-2048 signing limit (`openssl speed rsa2048` signs/s of one core times
the cores), the time from start to healthy for mockidp and oidc-provider, p99 latency, CPU time per
request of the server's processes (user+sys from /proc/<pid>/stat over the round, divided by the
requests: much less sensitive to other load than requests/s) and peak RSS per process. Prints the
ratios with PASS/FAIL against the issue's goals; writes the report to bench/results/compare.md.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import json
import os
import re
import shlex
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import run  # (bench/run.py: wrk, /proc readers, mockidp's server)

PEERS_DIR = run.BENCH_DIR / "peers"
DEFAULT_OUT = run.BENCH_DIR / "results" / "compare.md"
HOST = run.HOST

# The goals
TOKEN_VS_OIDC_PROVIDER = 1.6
TOKEN_VS_OAUTH2_MOCK = 2.5
TOKEN_OF_SIGNING_LIMIT = 0.8
STATIC_VS_OIDC_PROVIDER = 2.5
RSS_MB = 100.0

OIDC_BASIC = "Basic " + base64.b64encode(b"bench-client:bench-secret").decode()


@dataclass(frozen=True)
class Target:
    name: str
    scenarios: dict[str, run.Scenario]  # scenario name -> the request that target answers


MOCKIDP = Target("mockidp", {s.name: s for s in run.SCENARIOS})
OIDC_PROVIDER = Target("oidc-provider", {
    "token": run.Scenario("token", "token", "/token", method="POST", content_type=run.FORM,
                          body="grant_type=client_credentials&scope=api.read&resource=api%3A%2F%2Fbench",
                          headers=(("Authorization", OIDC_BASIC),), expect='"access_token":"ey'),
    "jwks": run.Scenario("jwks", "jwks", "/jwks", expect='"keys":['),
    "discovery": run.Scenario("discovery", "discovery", "/.well-known/openid-configuration",
                              expect='"token_endpoint":'),
})
OAUTH2_MOCK = Target("oauth2-mock-server", {
    "token": run.Scenario("token", "token", "/token", method="POST", content_type=run.FORM,
                          body="grant_type=client_credentials&client_id=bench&client_secret=x&scope=api",
                          expect='"access_token":"ey'),
    "jwks": run.Scenario("jwks", "jwks", "/jwks", expect='"keys":['),
    "discovery": run.Scenario("discovery", "discovery", "/.well-known/openid-configuration",
                              expect='"token_endpoint":'),
})
PEER_SCRIPTS = {"oidc-provider": "oidc_provider.mjs", "oauth2-mock-server": "oauth2_mock_server.mjs"}


@dataclass
class Sample:
    rps: float
    p99_ms: float
    cpu_ms_per_request: float
    errors: int


@dataclass
class Running:
    target: Target
    base_url: str
    port: int
    pids: list[int]  # the processes that serve (mockidp's workers, node)
    gateway_url: str = ""
    gateway_port: int = 0
    samples: dict[str, list[Sample]] = field(default_factory=dict)


# ---------------------------------------------------------------- peers


def ensure_peers() -> str:
    node = shutil.which("node")
    if not node:
        raise SystemExit("bench: node is needed for the peers")
    if not (PEERS_DIR / "node_modules" / "oidc-provider").is_dir():
        print("bench: installing the peers with npm ci in bench/peers ...", file=sys.stderr)
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund", "--silent"], cwd=PEERS_DIR, check=True)
    return node


def _wait_200(url: str, process: subprocess.Popen[bytes], timeout: float = 60.0) -> float:
    """Seconds until url answers 200 (polled every 10 ms)."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if process.poll() is not None:
            raise RuntimeError(f"{process.args!r} exited with {process.returncode}")
        with contextlib.suppress(OSError):
            if run._get(url, timeout=1.0)[0] == 200:
                return time.monotonic() - started
        time.sleep(0.01)
    raise RuntimeError(f"{url} did not answer 200 within {timeout:.0f} s")


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)


@contextlib.contextmanager
def running_peer(node: str, target: Target) -> Iterator[tuple[Running, float]]:
    port = run.free_port()
    process = subprocess.Popen([node, PEER_SCRIPTS[target.name], str(port)], cwd=PEERS_DIR,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL,
                               start_new_session=True)
    try:
        started = _wait_200(f"http://{HOST}:{port}/.well-known/openid-configuration", process)
        yield Running(target, f"http://{HOST}:{port}", port, [process.pid]), started
    finally:
        _stop(process)


def mockidp_start_seconds(seed: Path, data_dir: Path) -> float:
    """`mockidp serve` (2 workers, a new data dir) to the first 200 of /_mockidp/health."""
    port = run.free_port()
    command = [*run.mockidp_command(), "serve", "--seed", str(seed), "--no-tls", "--workers", "2",
               "--host", HOST, "--port", str(port), "--gateway-port", str(run.free_port()),
               "--data-dir", str(data_dir), "--no-access-log"]
    env = {k: v for k, v in os.environ.items() if not k.startswith("MOCKIDP_")}
    process = subprocess.Popen(command, cwd=run.REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                               stdin=subprocess.DEVNULL, env=env, start_new_session=True)
    try:
        return _wait_200(f"http://{HOST}:{port}/_mockidp/health", process)
    finally:
        _stop(process)


def oidc_provider_start_seconds(node: str) -> float:
    with running_peer(node, OIDC_PROVIDER) as (_, seconds):
        return seconds


# ---------------------------------------------------------------- measuring


def signing_limit(seconds: int) -> tuple[float, float]:
    """(signs/s of one core, times the cores) from `openssl speed rsa2048`."""
    out = subprocess.run(["openssl", "speed", "-seconds", str(seconds), "rsa2048"], capture_output=True,
                         text=True, check=True).stdout
    match = re.search(r"^rsa\s+2048 bits\s+\S+s\s+\S+s\s+([\d.]+)", out, re.MULTILINE)
    if not match:
        raise RuntimeError(f"could not read openssl speed's output:\n{out}")
    per_core = float(match.group(1))
    return per_core, per_core * (os.cpu_count() or 1)


def token_shape(running: Running, scenario: run.Scenario) -> str:
    """alg, typ and length of the target's access token: the comparison is fair only if all are RS256 JWTs."""
    status, body = run.request(url_for(running, scenario), scenario)
    token = str(json.loads(body)["access_token"])
    head = json.loads(base64.urlsafe_b64decode(token.split(".")[0] + "=="))
    return f"{head.get('alg')} {head.get('typ')}, {len(token)} chars (HTTP {status})"


def url_for(running: Running, scenario: run.Scenario) -> str:
    return (running.gateway_url if scenario.gateway else running.base_url) + scenario.path


def measure(wrk: str, running: Running, scenario: run.Scenario, *, seconds: int, connections: int,
            warmup: int) -> Sample:
    status, body = run.request(url_for(running, scenario), scenario)
    if status != 200 or scenario.expect.encode() not in body:
        raise RuntimeError(f"{running.target.name} {scenario.name}: preflight got {status}: {body[:300]!r}")
    port = running.gateway_port if scenario.gateway else running.port
    url = url_for(running, scenario)
    if warmup > 0:
        run.run_wrk(run.wrk_command(wrk, url, threads=1, connections=connections, seconds=warmup), scenario,
                    port=port, workers=running.pids, seconds=warmup)
    before = {pid: run._cpu_ticks(pid) for pid in running.pids}
    result, _ = run.run_wrk(run.wrk_command(wrk, url, threads=1, connections=connections, seconds=seconds),
                            scenario, port=port, workers=running.pids, seconds=seconds)
    ticks = sum(run._cpu_ticks(pid) - before[pid] for pid in running.pids)
    cpu_ms = ticks * 1000.0 / os.sysconf("SC_CLK_TCK") / max(result.requests, 1)
    return Sample(result.rps, result.latency_ms["99"], cpu_ms, result.errors)


# ---------------------------------------------------------------- report


def cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return "unknown CPU"


def _median(samples: Sequence[Sample], attr: str) -> float:
    return statistics.median(getattr(s, attr) for s in samples)


def render(targets: Sequence[Running], *, limit: tuple[float, float], starts: dict[str, list[float]],
           rss: dict[str, float], shapes: dict[str, str], args: argparse.Namespace) -> tuple[str, bool]:
    by = {t.target.name: t for t in targets}
    mock, op, oms = by["mockidp"], by["oidc-provider"], by["oauth2-mock-server"]
    cpu = cpu_model()
    lines = [f"# mockidp against the Node peers — {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}", "",
             f"Machine: {cpu}, {os.cpu_count()} cores; load average at the end "
             f"{' '.join(Path('/proc/loadavg').read_text().split()[:3])}. wrk -t1 -c{args.connections}, "
             f"{args.rounds} interleaved rounds of {args.duration} s (medians shown).", "",
             "| | mockidp | oidc-provider | oauth2-mock-server |", "|---|---:|---:|---:|"]
    names = [s for s in ("token", "jwks", "discovery", "gateway") if s in mock.samples]
    for name in names:
        cells = []
        for t in (mock, op, oms):
            samples = t.samples.get(name)
            cells.append("—" if not samples else
                         f"{_median(samples, 'rps'):,.0f}/s, p99 {_median(samples, 'p99_ms'):.1f} ms, "
                         f"{_median(samples, 'cpu_ms_per_request'):.2f} ms CPU")
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    lines.append(f"| peak RSS per process | {rss['mockidp']:.1f} MB | {rss['oidc-provider']:.1f} MB | "
                 f"{rss['oauth2-mock-server']:.1f} MB |")
    lines.append(f"| start to healthy | {statistics.median(starts['mockidp']):.2f} s | "
                 f"{statistics.median(starts['oidc-provider']):.2f} s | — |")
    lines += ["", f"Tokens: {'; '.join(f'{k} {v}' for k, v in shapes.items())}.",
              f"Signing limit: openssl speed rsa2048 {limit[0]:,.0f} signs/s a core, {limit[1]:,.0f} on "
              f"{os.cpu_count()} cores.", "", "| goal | measured | verdict |", "|---|---:|---|"]
    checks: list[tuple[str, float, float]] = []

    def ratio(name: str, peer: Running) -> float:
        return _median(mock.samples[name], "rps") / max(_median(peer.samples[name], "rps"), 1e-9)

    if "token" in names:
        checks += [("tokens/s ≥ 1.6× oidc-provider", ratio("token", op), TOKEN_VS_OIDC_PROVIDER),
                   ("tokens/s ≥ 2.5× oauth2-mock-server", ratio("token", oms), TOKEN_VS_OAUTH2_MOCK),
                   ("tokens/s ≥ 80% of the signing limit", _median(mock.samples["token"], "rps") / limit[1],
                    TOKEN_OF_SIGNING_LIMIT)]
    for name in ("jwks", "discovery"):
        if name in names:
            checks.append((f"{name}/s ≥ 2.5× oidc-provider", ratio(name, op), STATIC_VS_OIDC_PROVIDER))
    ok_all = True
    for label, value, goal in checks:
        ok = value >= goal
        ok_all &= ok
        lines.append(f"| {label} | {value:.2f}× | {run._verdict(ok)} |")
    for name in names:
        if name in op.samples:
            ok = _median(mock.samples[name], "p99_ms") <= _median(op.samples[name], "p99_ms")
            ok_all &= ok
            lines.append(f"| {name} p99 ≤ oidc-provider's | {_median(mock.samples[name], 'p99_ms'):.1f} ms vs "
                         f"{_median(op.samples[name], 'p99_ms'):.1f} ms | {run._verdict(ok)} |")
    ok = rss["mockidp"] <= RSS_MB
    ok_all &= ok
    lines.append(f"| peak RSS per worker ≤ 100 MB | {rss['mockidp']:.1f} MB | {run._verdict(ok)} |")
    ms, os_ = statistics.median(starts["mockidp"]), statistics.median(starts["oidc-provider"])
    ok = ms <= os_
    ok_all &= ok
    lines.append(f"| start ≤ oidc-provider's | {ms:.2f} s vs {os_:.2f} s | {run._verdict(ok)} |")
    errors = sum(s.errors for t in targets for ss in t.samples.values() for s in ss)
    lines += ["", f"Errors over all runs: {errors} (any error makes the run invalid).",
              f"Command: {shlex.join([sys.executable, *sys.argv])}"]
    return "\n".join(lines) + "\n", ok_all and errors == 0


# ---------------------------------------------------------------- main


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--duration", type=int, default=10, help="measured seconds per round (default 10)")
    p.add_argument("--warmup", type=int, default=2, help="warm-up seconds before each round (default 2)")
    p.add_argument("--rounds", type=int, default=3, help="interleaved rounds; medians reported (default 3)")
    p.add_argument("--connections", type=int, default=32, help="wrk connections (default 32)")
    p.add_argument("--starts", type=int, default=3, help="start-up timings of each (default 3)")
    p.add_argument("--openssl-seconds", type=int, default=3, help="openssl speed -seconds (default 3)")
    p.add_argument("--scenario", action="append", choices=["token", "jwks", "discovery", "gateway"],
                   help="only these scenarios (repeatable; default all)")
    p.add_argument("--seed", type=Path, default=run.REPO / "seed" / "demo.yaml")
    p.add_argument("--out", type=Path, default=DEFAULT_OUT)
    return p.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, run._raise_interrupt)
    wrk, node = run.ensure_wrk(), ensure_peers()
    run.install_shipped()
    names = args.scenario or ["token", "jwks", "discovery", "gateway"]
    seed = run._seed_argument(args.seed)
    try:
        with tempfile.TemporaryDirectory(prefix="mockidp-compare-") as tmp:
            starts: dict[str, list[float]] = {"mockidp": [], "oidc-provider": []}
            for i in range(args.starts):  # interleaved; each mockidp start with a new data dir
                starts["mockidp"].append(mockidp_start_seconds(seed, Path(tmp) / f"start-{i}"))
                starts["oidc-provider"].append(oidc_provider_start_seconds(node))
            print(f"bench: start to healthy: {starts}", file=sys.stderr)
            with contextlib.ExitStack() as stack:
                server = stack.enter_context(run.running_server(
                    workers=2, access_log=False, data_dir=Path(tmp) / "data", seed=seed, traces=True))
                workers = run.worker_pids(server.process.pid)
                mock = Running(MOCKIDP, server.base_url, server.port, workers, server.gateway_url,
                               server.gateway_port)
                mock_scenarios = {n: run.with_token(server, s) for n, s in MOCKIDP.scenarios.items()}
                mock.target = replace(MOCKIDP, scenarios=mock_scenarios)
                op, _ = stack.enter_context(running_peer(node, OIDC_PROVIDER))
                oms, _ = stack.enter_context(running_peer(node, OAUTH2_MOCK))
                targets = [mock, op, oms]
                shapes = {t.target.name: token_shape(t, t.target.scenarios["token"]) for t in targets}
                print(f"bench: tokens: {shapes}", file=sys.stderr)
                limit = signing_limit(args.openssl_seconds)
                for r in range(args.rounds):
                    for name in names:
                        # rotate who goes first, so that no target always runs right after another's load
                        order = targets[r % 3:] + targets[:r % 3]
                        for t in order:
                            scenario = t.target.scenarios.get(name)
                            if scenario is None:
                                continue
                            sample = measure(wrk, t, scenario, seconds=args.duration,
                                             connections=args.connections, warmup=args.warmup)
                            t.samples.setdefault(name, []).append(sample)
                            print(f"bench: round {r + 1} {name:<9} {t.target.name:<18} {sample.rps:>8,.0f}/s "
                                  f"p99 {sample.p99_ms:.1f} ms CPU {sample.cpu_ms_per_request:.3f} ms/request "
                                  f"errors {sample.errors}", file=sys.stderr)
                rss = {t.target.name: max((run.vm_hwm_mb(pid) or 0.0) for pid in t.pids) for t in targets}
                report, ok = render(targets, limit=limit, starts=starts, rss=rss, shapes=shapes, args=args)
    except KeyboardInterrupt:
        print("bench: interrupted; the servers were stopped", file=sys.stderr)
        return 130
    except RuntimeError as exc:
        print(f"bench: {exc}", file=sys.stderr)
        return 2
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(report)
    print(report)
    print(f"(written to {args.out})")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
