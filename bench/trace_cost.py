"""What recording decision traces costs, in CPU time per token request, without the network.

    .venv/bin/python bench/trace_cost.py [--requests 4000] [--rounds 5]
    .venv/bin/python bench/trace_cost.py --instructions     # under valgrind: counts, not seconds

Builds the app twice in this process (--traces and --no-traces, same seed, same key), sends each the
same client-credentials request straight through ASGI, and measures process CPU time (not wall time:
other jobs on the machine do not count). The traced app's batches are written to its SQLite database
inside the measured time, as its flush task would. Rounds alternate on/off; the median is reported.
HTTP parsing and the socket are left out, so the ratio here is an upper bound of the cost under
bench/run.py, which measures the served figure (`--traces on|off`).

--instructions runs each app under `valgrind --tool=callgrind` twice (100 and 600 requests, one
signing key for all) and reports the instructions per request as the difference over 500 requests:
the same figure on a busy machine as on an idle one, where CPU time on a shared machine is not.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from mockidp.app import create_app  # noqa: E402
from mockidp.directory.traces import FLUSH_AT  # noqa: E402
from mockidp.settings import Settings  # noqa: E402

TENANT = "72f988bf-0000-4000-8000-000000000001"
BODY = (b"grant_type=client_credentials&client_id=1df771d6-ef9c-473e-af87-cafa8928e024"
        b"&client_secret=testClient-secret-value-1&scope=api%3A%2F%2F8d138478-d3a3-47f5-a233-1408cd6baae4%2F.default")


async def _one(app: Any) -> int:
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST", "scheme": "http",
             "path": f"/{TENANT}/oauth2/v2.0/token", "raw_path": f"/{TENANT}/oauth2/v2.0/token".encode(),
             "query_string": b"", "root_path": "", "client": ("127.0.0.1", 50000), "server": ("127.0.0.1", 8443),
             "headers": [(b"host", b"127.0.0.1:8443"), (b"content-type", b"application/x-www-form-urlencoded"),
                         (b"content-length", str(len(BODY)).encode())]}
    sent = False
    status = 0

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if sent:
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": BODY, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]

    await app(scope, receive, send)
    return status


async def _round(app: Any, n: int) -> float:
    store = app.state.runtime.traces
    start = time.process_time()
    for i in range(n):
        if await _one(app) != 200:
            raise RuntimeError("the token request failed: is this the demo seed?")
        if store is not None and i % FLUSH_AT == FLUSH_AT - 1:
            store.flush()
    if store is not None:
        store.flush()
    return (time.process_time() - start) / n * 1e6


def _app(data: Path, *, traces: bool, key_dir: Path | None = None) -> Any:
    if key_dir is not None:  # the same key in every run: key generation's instructions vary
        data.mkdir(parents=True, exist_ok=True)
        for f in key_dir.iterdir():
            if f.suffix != ".db":  # the key and the session secret; each run seeds its own database
                shutil.copy(f, data / f.name)
    return create_app(Settings(seed=[REPO / "seed" / "demo.yaml"], data_dir=data, tls=False, traces=traces,
                               access_log=False))


def _instructions(n_small: int = 100, n_large: int = 600) -> int:
    if shutil.which("valgrind") is None:
        print("--instructions needs valgrind (apt-get install valgrind)", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="mockidp-trace-cg-") as tmp:
        key_dir = Path(tmp) / "key"
        _app(key_dir, traces=False)  # makes the key and secret once
        per: dict[str, float] = {}
        for mode in ("on", "off"):
            counts = []
            for n in (n_small, n_large):
                out = Path(tmp) / f"cg.{mode}.{n}"
                run = subprocess.run(["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}", sys.executable,
                                      __file__, "--one", mode, "--requests", str(n), "--key-dir", str(key_dir)],
                                     capture_output=True, text=True, check=False)
                if run.returncode != 0:
                    raise RuntimeError(f"the {mode} run of {n} requests failed:\n{run.stderr[-3000:]}")
                found = re.search(r"Collected : (\d+)", run.stderr)
                if found is None:
                    raise RuntimeError(run.stderr[-2000:])
                counts.append(int(found.group(1)))
            per[mode] = (counts[1] - counts[0]) / (n_large - n_small)
            print(f"  traces {mode:<3}: {per[mode] / 1e6:6.2f} M instructions a request", flush=True)
    cost = per["on"] - per["off"]
    print(f"  cost: {cost / 1e6:+.2f} M instructions a request, {100 * cost / per['off']:+.1f}% (before HTTP)")
    return 0


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--requests", type=int, default=4000)
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--instructions", action="store_true", help="count instructions under valgrind")
    p.add_argument("--one", choices=("on", "off"), help=argparse.SUPPRESS)  # one run, for --instructions
    p.add_argument("--key-dir", type=Path, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.instructions:
        print("Instructions per client-credentials request, in process (valgrind --tool=callgrind):")
        return _instructions()
    if args.one:
        with tempfile.TemporaryDirectory(prefix="mockidp-trace-one-") as tmp:
            app = _app(Path(tmp) / "data", traces=args.one == "on", key_dir=args.key_dir)
            asyncio.new_event_loop().run_until_complete(_round(app, args.requests))
        return 0
    with tempfile.TemporaryDirectory(prefix="mockidp-trace-cost-") as tmp:
        apps = {}
        for traced in (True, False):
            apps[traced] = _app(Path(tmp) / ("on" if traced else "off"), traces=traced)
        loop = asyncio.new_event_loop()
        for app in apps.values():
            loop.run_until_complete(_round(app, 300))  # warm-up
        costs: dict[bool, list[float]] = {True: [], False: []}
        for _ in range(args.rounds):
            for traced in (True, False):
                costs[traced].append(loop.run_until_complete(_round(apps[traced], args.requests)))
        on, off = statistics.median(costs[True]), statistics.median(costs[False])
        print(f"CPU per client-credentials request, in process, median of {args.rounds} rounds of {args.requests}:")
        print(f"  traces off: {off:7.1f} us   (rounds: {', '.join(f'{c:.0f}' for c in costs[False])})")
        print(f"  traces on:  {on:7.1f} us   (rounds: {', '.join(f'{c:.0f}' for c in costs[True])})")
        print(f"  cost: {on - off:+.1f} us a request, {100 * (on - off) / off:+.1f}% "
              f"(tokens/s with traces = {100 * off / on:.1f}% of without, before HTTP)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
