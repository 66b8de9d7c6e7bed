#!/bin/sh
# The demo's merge step: checks that every part exists and sums them.
set -eu
out="${1:?usage: merge.sh OUTDIR COUNT}"
count="${2:?usage: merge.sh OUTDIR COUNT}"
sum=0
i=0
while [ "$i" -lt "$count" ]; do
  f="$out/part-$i.txt"
  [ -f "$f" ] || { echo "merge: missing $f" >&2; exit 1; }
  sum=$((sum + $(cat "$f")))
  i=$((i + 1))
done
echo "merged $count parts: sum of squares = $sum" | tee "$out/merged.txt"
