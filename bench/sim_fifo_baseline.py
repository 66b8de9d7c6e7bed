#!/usr/bin/env python3
"""The simulator's baseline: a plain strict-FIFO replay of a Philly-format trace on one pool of
GPUs (no nodes, no placement, no backfill), in Python. bench/sim_compare times `muster sim` on the
same trace against this, in the same run.

Usage: bench/sim_fifo_baseline.py TRACE.csv GPUS   -> prints jobs, makespan (h), mean JCT (h)
"""
import csv
import heapq
import sys
from collections import deque
from datetime import datetime


def main():
    path, gpus = sys.argv[1], int(sys.argv[2])
    jobs = []
    with open(path, newline="") as f:
        for row in csv.DictReader(f):
            t = datetime.strptime(row["timestamp"], "%Y-%m-%d %H:%M:%S").timestamp()
            need = int(row["num_gpus"])
            if 0 < need <= gpus:
                jobs.append((t, float(row["duration"]), need))
    jobs.sort()
    t0 = jobs[0][0]
    free, now, i = gpus, 0.0, 0
    queue, running = deque(), []  # running: heap of (finish, gpus)
    jct_sum, makespan = 0.0, 0.0
    while i < len(jobs) or queue or running:
        next_arrival = jobs[i][0] - t0 if i < len(jobs) else float("inf")
        next_finish = running[0][0] if running else float("inf")
        if next_arrival <= next_finish:
            now = next_arrival
            queue.append(jobs[i])
            i += 1
        else:
            now, g = heapq.heappop(running)
            free += g
        while queue and queue[0][2] <= free:  # strict FIFO: only the head may start
            submit, duration, need = queue.popleft()
            free -= need
            finish = now + duration
            heapq.heappush(running, (finish, need))
            jct_sum += finish - (submit - t0)
            makespan = max(makespan, finish)
    print(f"jobs {len(jobs)} makespan_h {makespan / 3600:.1f} mean_jct_h {jct_sum / len(jobs) / 3600:.2f}")


if __name__ == "__main__":
    main()
