#!/bin/sh
# One task of the demo's array: squares its index and writes the result for the merge step.
set -eu
i="${MUSTER_TASK_INDEX:?}"
out="${1:?usage: square.sh OUTDIR}"
mkdir -p "$out"
n=0
total=20
while [ "$n" -lt "$total" ]; do
  n=$((n + 1))
  echo "MUSTER_PROGRESS done=$n total=$total index=$i"
  sleep 0.05
done
echo $((i * i)) > "$out/part-$i.txt"
