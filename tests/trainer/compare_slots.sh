#!/usr/bin/env bash
# scripts/compare spread over GPU slots: with --gpus 2 each run is pinned to a
# card by CUDA_VISIBLE_DEVICES (slot s -> GPU s mod 2) and trains to the same weights as the same
# runs one at a time; bad slot counts exit 2. On a machine without GPUs the pinning is recorded but
# the runs use the CPU, which is what makes "the same result" checkable here.
#   compare_slots.sh CATDOG DATA_DIR
set -euo pipefail
catdog=$1; data=$2
root=$(cd "$(dirname "$0")/../.." && pwd)
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
for cls in Cat Dog; do
  mkdir -p "$tmp/img/$cls"
  n=0
  for f in "$data/PetImages/$cls"/1[0-9].jpg "$data/PetImages/$cls"/2[0-9].jpg; do
    [ -s "$f" ] && ln -s "$f" "$tmp/img/$cls/" && n=$((n + 1))
    [ $n -ge 12 ] && break
  done
done
"$catdog" prepare --images "$tmp/img" --out "$tmp/pack" --val-fraction 0.25 --test-fraction 0.25 --seed 3 > /dev/null 2>&1
run() { "$root/scripts/compare" --pack "$tmp/pack" --catdog "$catdog" --epochs 2 --only dense,cnn-aug "$@" -- --threads 1 --batch 8; }
run --out "$tmp/gpus" --gpus 2 --per-gpu 1 > "$tmp/gpus.log" 2>&1 || { cat "$tmp/gpus.log"; exit 1; }
run --out "$tmp/one" --gpus 0 --parallel 1 > "$tmp/one.log" 2>&1 || { cat "$tmp/one.log"; exit 1; }
grep -q "2 run(s) at a time on 2 GPU(s), 1 per GPU" "$tmp/gpus.log" || { echo "no GPU slot line"; cat "$tmp/gpus.log"; exit 1; }
python3 - "$tmp/gpus/summary.json" "$tmp/one/summary.json" <<'PY'
import json, sys
a = {r["id"]: r for r in json.load(open(sys.argv[1]))["runs"]}
b = {r["id"]: r for r in json.load(open(sys.argv[2]))["runs"]}
assert sorted(a) == ["cnn-aug", "dense"], a
assert sorted(r["device"] for r in a.values()) == ["0", "1"], [r["device"] for r in a.values()]
assert all(r["device"] == "cpu" for r in b.values()), b
for k in a:
    assert a[k]["best_val_loss"] == b[k]["best_val_loss"], (k, a[k], b[k])
    assert a[k]["epochs"] == 2, a[k]
print("compare slots: same results pinned to GPUs 0/1 as one at a time:",
      {k: a[k]["best_val_loss"] for k in a})
PY
for bad in "--gpus two" "--per-gpu 0" "--parallel 0"; do
  # shellcheck disable=SC2086
  if "$root/scripts/compare" --pack "$tmp/pack" --out "$tmp/bad" $bad > "$tmp/bad.log" 2>&1; then echo "$bad accepted"; exit 1; fi
  rc=0; "$root/scripts/compare" --pack "$tmp/pack" --out "$tmp/bad" $bad > /dev/null 2>&1 || rc=$?
  [ $rc -eq 2 ] || { echo "$bad: exit $rc, expected 2"; exit 1; }
  grep -q -- "${bad%% *}" "$tmp/bad.log" || { echo "$bad: message does not name the flag"; cat "$tmp/bad.log"; exit 1; }
done
echo ok
