#!/usr/bin/env bash
# Issue 8: training img/s before (eea5c66) and after (bc725dd) the FusionStrategy trait merge.
# Builds both commits into one target folder (one burn build), then alternates the binaries arm
# by arm: ROUNDS rounds x 4 arms, uvit-tiny batch 32. Writes JSON lines to OUT.
#   scripts/bench/trait_cost.sh [STEPS=30] [ROUNDS=3] [OUT=trait_cost.jsonl]
set -euo pipefail
STEPS=${1:-30}
ROUNDS=${2:-3}
OUT=${3:-trait_cost.jsonl}
REPO=$(git rev-parse --show-toplevel)
WT=${WT:-/tmp/ifvit-trait-cost}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$WT/target}
for which in before:eea5c66 after:bc725dd; do
  name=${which%%:*}
  rev=${which##*:}
  [ -d "$WT/$name" ] || git -C "$REPO" worktree add -f "$WT/$name" "$rev"
  (cd "$WT/$name" && cargo build --release -p ifvit-cli)
  cp "$CARGO_TARGET_DIR/release/ifvit" "$CARGO_TARGET_DIR/release/ifvit-$name"
done
: > "$OUT"
for round in $(seq "$ROUNDS"); do
  for arm in "early-concat" "early-crossattn" "intermediate-concat --c 1 --v 1" "intermediate-crossattn --c 1 --v 1"; do
    for name in before after; do
      # shellcheck disable=SC2086 # $arm holds the flags of an arm
      j=$("$CARGO_TARGET_DIR/release/ifvit-$name" bench train --preset uvit-tiny --batch 32 \
        --steps "$STEPS" --warmup 5 --fusion $arm --json 2>/dev/null | tr -d '\n')
      echo "{\"round\": $round, \"which\": \"$name\", \"arm\": \"$arm\", \"result\": $j}" >> "$OUT"
    done
  done
done
python3 - "$OUT" <<'PY'
import json, statistics as st, sys
from collections import defaultdict
d = defaultdict(list)
for line in open(sys.argv[1]):
    r = json.loads(line)
    d[(r["arm"], r["which"])].append(r["result"]["images_per_s"])
g = 1.0
for arm in sorted({a for a, _ in d}):
    b, a = st.median(d[(arm, "before")]), st.median(d[(arm, "after")])
    g *= a / b
    print(f"{arm:36s} before {b:7.1f} after {a:7.1f} ratio {a / b:.3f}")
print(f"geometric mean ratio {g ** (1 / len({a for a, _ in d})):.3f}")
PY
