"""CPU time per request of mockidp alone, served: what to optimise on a machine others are loading.

    .venv/bin/python bench/cpu.py [--duration 6] [--rounds 3] [--scenario token ...]

Starts `mockidp serve` (2 workers as bench/compare.py serves it, TLS off, the demo seed) as bench/run.py
does, loads each scenario with wrk (1 thread, 16 connections) and reports the workers' CPU time (utime +
stime from /proc) divided by the requests wrk completed, the median of the rounds, then each worker's peak
RSS. Requests per second move with whatever else runs on the machine; CPU per request moves much less, so
it is the figure to compare before and after a change (bench/compare.py measures the ratios against the
peers, on a quiet machine).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import run


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--duration", type=int, default=6, help="measured seconds per round (default 6)")
    p.add_argument("--rounds", type=int, default=3, help="rounds per scenario; the median is reported")
    p.add_argument("--connections", type=int, default=16)
    p.add_argument("--scenario", action="append", choices=[s.name for s in run.SCENARIOS])
    args = p.parse_args()
    wrk = run.ensure_wrk()
    run.install_shipped()
    chosen = [s for s in run.SCENARIOS if s.name in (args.scenario or [s.name for s in run.SCENARIOS])]
    tick = os.sysconf("SC_CLK_TCK")
    with tempfile.TemporaryDirectory(prefix="mockidp-cpu-") as tmp, \
            run.running_server(workers=2, access_log=False, data_dir=Path(tmp) / "data",
                               seed=run._seed_argument(run.REPO / "seed" / "demo.yaml")) as server:
        workers = run.worker_pids(server.process.pid)
        print(f"CPU per request, 2 workers, wrk -t1 -c{args.connections}, median of {args.rounds} x "
              f"{args.duration} s:")
        for base in chosen:
            scenario = run.with_token(server, base)
            run.preflight(server, scenario)
            url, port = run.url_of(server, scenario), server.gateway_port if scenario.gateway else server.port
            command = run.wrk_command(wrk, url, threads=1, connections=args.connections, seconds=2)
            run.run_wrk(command, scenario, port=port, workers=workers, seconds=2)  # warm-up
            costs, rates = [], []
            for _ in range(args.rounds):
                before = sum(run._cpu_ticks(pid) for pid in workers)
                command = run.wrk_command(wrk, url, threads=1, connections=args.connections, seconds=args.duration)
                result, _ = run.run_wrk(command, scenario, port=port, workers=workers, seconds=args.duration)
                if result.errors:
                    raise RuntimeError(f"{scenario.name}: {result.errors} errors under load")
                ticks = sum(run._cpu_ticks(pid) for pid in workers) - before
                costs.append(ticks * 1000.0 / tick / max(result.requests, 1))
                rates.append(result.rps)
            print(f"  {scenario.name:<10} {statistics.median(costs):6.3f} ms CPU/request "
                  f"(rounds {', '.join(f'{c:.3f}' for c in costs)}; {statistics.median(rates):,.0f} req/s here)",
                  flush=True)
        peaks = [run.vm_hwm_mb(pid) for pid in workers]
        print(f"  peak RSS per worker (VmHWM): {', '.join(f'{mb:.1f} MB' for mb in peaks if mb is not None)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
