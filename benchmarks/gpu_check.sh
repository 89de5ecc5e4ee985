#!/usr/bin/env bash
# The harness's GPU path, checked in one run on a machine with one CUDA GPU (results under $OUT):
#   1. `harness bench` at the reference settings (stage1pp: EfficientNet-B2 + FPN at 256 px, batch 4,
#      AMP, channels_last), with AMP off and batch 8 beside it: step time, images/s, peak memory
#      (NVML per process; torch's peak allocated / reserved) against the reference's 1.4 GB;
#   2. a `--memory-cap` breach: three trials share the GPU (batch 2, 4 and 32 under a cap that batch 4
#      fits), the batch-32 trial must end (memory_cap, or oom from torch's per-process backstop) while
#      the other two train on to the end;
#   3. three trials sharing one GPU against one trial alone (benchmarks/scaling.py --gpu).
# Each part has its own time limit, so that one that hangs does not cost the others.
#
#   OUT=/tmp/gpu PY=python3 bash benchmarks/gpu_check.sh
set -u -o pipefail
OUT=${OUT:-runs/gpu-check}
PY=${PY:-python3}
RUNS=${RUNS:-/tmp/gpu-check-runs}
CAP=${CAP:-3GiB}
mkdir -p "$OUT" "$RUNS"
export PYTHONUNBUFFERED=1 RAY_DISABLE_IMPORT_WARNING=1 NO_ALBUMENTATIONS_UPDATE=1
PARTS=${PARTS:-123}
H=("$PY" -m harness.cli)

echo "== machine"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
"$PY" -c "import torch, timm, segmentation_models_pytorch as smp, ray, optuna, albumentations, pynvml
print('torch', torch.__version__, torch.cuda.get_device_name(0), '| timm', timm.__version__,
      '| smp', smp.__version__, '| ray', ray.__version__, '| optuna', optuna.__version__)" || exit 1

[[ $PARTS == *1* ]] && {
echo "== 1. harness bench at the reference settings"
SECONDS=0
timeout 240 "${H[@]}" bench --recipe stage1pp --device cuda --steps 30 --warmup 5 \
  --grid optim.amp=true,false --grid data.batch_size=4,8 --out "$RUNS/bench"
echo "bench: exit $?, ${SECONDS} s"
cp "$RUNS/bench/bench.csv" "$OUT/bench.csv" 2>/dev/null
}

[[ $PARTS == *2* ]] && {
echo "== 2. memory cap $CAP: batch 2, 4 and 32 sharing the GPU"
cat >"$RUNS/capspace.yaml" <<'EOF'
description: batch size under a GPU memory cap
params:
  data.batch_size: {type: categorical, choices: [2, 4, 32]}
EOF
SECONDS=0
timeout 300 "${H[@]}" search --recipe stage1pp --space "$RUNS/capspace.yaml" --sampler grid \
  --trials 3 --concurrency 3 --gpus-per-trial 0.33 --memory-cap "$CAP" --max-epochs 4 \
  --grace-period 4 --set data.synthetic.n_images=48 --name capcheck --runs-dir "$RUNS" \
  >"$OUT/capcheck.log" 2>&1
echo "search: exit $?, ${SECONDS} s"
tail -n 25 "$OUT/capcheck.log"
"$PY" - "$RUNS/capcheck" "$OUT" <<'EOF'
import sys

import pandas as pd

run, out = sys.argv[1], sys.argv[2]
t = pd.read_parquet(f"{run}/trials.parquet")
c = pd.read_parquet(f"{run}/curves.parquet")
cols = ["trial_id", "data.batch_size", "status", "epochs", "peak_memory_bytes", "memory_kind",
        "device", "error"]
t[[k for k in cols if k in t]].to_csv(f"{out}/capcheck_trials.csv", index=False)
pd.set_option("display.width", 200)
pd.set_option("display.max_colwidth", 90)
print(t[[k for k in cols if k in t]].to_string(index=False))
# When each trial's epochs were reported: the others go on after the breach.
time_col = next((k for k in ("timestamp", "time", "report_time") if k in c), None)
if time_col:
    print(c[["trial_id", "epoch", time_col]].sort_values(time_col).to_string(index=False))
EOF
}

[[ $PARTS == *3* ]] && {
echo "== 3. three trials sharing one GPU against one"
SECONDS=0
timeout 300 "$PY" benchmarks/scaling.py --gpu --trials 3 --epochs 3 --concurrency 1 3 2>&1 \
  | grep -v -E "^\(|WARNING|INFO" | tee "$OUT/scaling.log"
echo "scaling: exit $?, ${SECONDS} s"
}
