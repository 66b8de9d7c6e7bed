#!/usr/bin/env bash
# Runs examples/ddp_fashion_mnist.py (plain PyTorch DDP, gloo) as 2 processes with torchrun's
# variables set here and checks that both finish and rank 0 reports progress and accuracy.
# Exit 77 (skipped) when Debian's python3-torch or the dataset is not installed.
set -uo pipefail
script=${1:?usage: train_python_ddp_test.sh path/to/ddp_fashion_mnist.py}
py=${MUSTER_TEST_PYTHON:-/usr/bin/python3}
data=/usr/share/datasets/fashion-mnist
"$py" -c 'import torch, numpy, torch.distributed as d; assert d.is_gloo_available()' 2>/dev/null || {
  echo "skipped: $py has no torch with gloo"; exit 77; }
[ -f "$data/train-images-idx3-ubyte.gz" ] || { echo "skipped: no dataset in $data"; exit 77; }
port=$("$py" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
pids=()
for rank in 0 1; do
  RANK=$rank LOCAL_RANK=$rank WORLD_SIZE=2 LOCAL_WORLD_SIZE=2 MASTER_ADDR=127.0.0.1 MASTER_PORT=$port \
    timeout 240 "$py" "$script" --data "$data" --max-steps 12 --batch-size 32 --limit-test 1000 \
    >"$tmp/out$rank" 2>"$tmp/err$rank" &
  pids+=($!)
done
rc=0
for i in 0 1; do wait "${pids[$i]}" || { echo "rank $i failed:"; cat "$tmp/err$i"; rc=1; }; done
cat "$tmp/out0"
[ $rc -eq 0 ] || exit 1
grep -q '^MUSTER_PROGRESS done=12 total=12 epoch=1 loss=[0-9.]* samples_per_s=[0-9.]*$' "$tmp/out0" || {
  echo "rank 0 did not report step 12 of 12"; exit 1; }
grep -q '^done: steps=12 world_size=2 test_loss=[0-9.]* test_accuracy=0\.[0-9]*$' "$tmp/out0" || {
  echo "rank 0 did not report the test accuracy"; exit 1; }
if grep -q MUSTER_PROGRESS "$tmp/out1"; then echo "rank 1 must not report progress"; exit 1; fi
echo "ok"
