#!/usr/bin/env python3
"""Writes the two balancer scenarios' traces (seeded, so the files are reproducible):

  hetero.csv  200 jobs of 1, 2 or 4 GPUs, log-normal run times (median 2 h), Poisson arrivals
              (8 per hour), 70% checkpointable; replayed on hetero-cluster.txt (half the nodes
              at 0.5x speed).
  frag.csv    240 jobs: 80% one-GPU checkpointable jobs (median 1 h), 20% eight-GPU jobs that are
              not checkpointable (median 30 min), Poisson arrivals (14 per hour); replayed on
              frag-cluster.txt (4 x 8 GPUs) with --single-node-jobs.

Usage: python3 examples/sim/make_traces.py  (writes next to this script)
"""
import math
import os
import random

HERE = os.path.dirname(os.path.abspath(__file__))


def write(name, rows):
    with open(os.path.join(HERE, name), "w") as f:
        f.write("submit_time_s,duration_s,gpus,user,checkpointable\n")
        for r in rows:
            f.write("%d,%d,%d,%s,%d\n" % r)


def hetero():
    rng = random.Random(11)
    t, rows = 0.0, []
    for i in range(200):
        t += rng.expovariate(8 / 3600)
        g = rng.choices([1, 2, 4], weights=[60, 25, 15])[0]
        d = min(12 * 3600, max(60, rng.lognormvariate(math.log(7200), 0.8)))
        rows.append((t, d, g, "u%d" % (i % 4), rng.random() < 0.7))
    write("hetero.csv", rows)


def frag():
    rng = random.Random(5)
    t, rows = 0.0, []
    for i in range(240):
        t += rng.expovariate(14 / 3600)
        if rng.random() < 0.8:
            g, d, c = 1, rng.lognormvariate(math.log(3600), 0.7), True
        else:
            g, d, c = 8, rng.lognormvariate(math.log(1800), 0.5), False
        rows.append((t, min(8 * 3600, max(60, d)), g, "u%d" % (i % 4), c))
    write("frag.csv", rows)


if __name__ == "__main__":
    hetero()
    frag()
