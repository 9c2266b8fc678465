#!/usr/bin/env bash
# The GPU figures of docs/results.md and docs/gpu-and-distributed.md, in stages that each fit a 10-minute command
# on a machine with JAX and one CUDA GPU (Keras on the JAX backend; TensorFlow need not be installed):
#
#   bash benchmarks/gpu_figures.sh speed      # layer and whole-model benchmarks (float32 and mixed bfloat16),
#                                             # alone on the GPU (~4 min before the bfloat16 column)
#   bash benchmarks/gpu_figures.sh train      # starts the trainings in the background, one after another:
#                                             #   PTB medium (alone), one epoch of PTB medium on the builtin cell
#                                             #   (alone), then MNIST and char-rnn large together, then PTB large
#                                             #   and awd once MNIST is done
#   bash benchmarks/gpu_figures.sh only ptb-large ptb-awd  # starts just these, one after another, alone
#   bash benchmarks/gpu_figures.sh only ptb-medium-highest ptb-medium-bf16  # PTB medium in other number formats
#   bash benchmarks/gpu_figures.sh only char-xlstm-large  # the xLSTM's GPU preset
#   bash benchmarks/gpu_figures.sh compare    # starts in the background: `wide`, `gpt-small` and `xlstm-large`
#                                             # scored on nanoGPT's validation after 3 minutes of training each
#   bash benchmarks/gpu_figures.sh watch 540  # prints progress for 540 s, packing logs and results into $OUT
#
# The runs live in $GPU_RUNS (default /tmp/gpu_runs); `watch` packs their logs, history.csv and results.json
# (not the models) into $OUT/runs.tgz every minute. The trainings outlive each command (setsid) but not the
# machine: call `watch` again within the machine's idle time (30 s on the device tool's machines), or they are
# lost with it (2026-11-24: PTB large and awd, at epoch 25, were).
set -u
export KERAS_BACKEND=jax XLA_PYTHON_CLIENT_PREALLOCATE=false PYTHONUNBUFFERED=1  # several processes share the GPU
RUNS=${GPU_RUNS:-/tmp/gpu_runs}
OUT=${OUT:-$RUNS/out}
mkdir -p "$RUNS" "$OUT"

declare -A TRAININGS=(  # name: the script and its options
    [ptb-medium]="train_ptb.py --preset medium"
    [ptb-medium-highest]="train_ptb.py --preset medium --matmul-precision highest"  # full float32, not TF32
    [ptb-medium-bf16]="train_ptb.py --preset medium --precision mixed_bfloat16"  # layers in bfloat16
    [ptb-medium-builtin]="train_ptb.py --preset medium --cell builtin --epochs 1"
    [char-large]="train_char_rnn.py --preset large"
    [mnist]="train_mnist_bilstm.py"
    [ptb-large]="train_ptb.py --preset large"
    [ptb-awd]="train_ptb.py --preset awd"
    [char-xlstm-large]="train_char_rnn.py --preset xlstm-large"
)

timed() {  # timed NAME: runs that training (resumed if its folder has a checkpoint), output and wall time in NAME.log
    local name=$1 resume="" start=$SECONDS
    [ -e "$RUNS/$name/state.json" ] && resume=--resume
    python3 ${TRAININGS[$name]} --output-dir "$RUNS/$name" $resume >> "$RUNS/$name.log" 2>&1
    echo "exit $? after $((SECONDS - start)) s wall: python3 ${TRAININGS[$name]} $resume" >> "$RUNS/$name.log"
}

case "${1:-}" in
speed)
    nvidia-smi -L
    python3 -c "import jax; print('jax', jax.__version__, jax.devices())"
    python3 -m benchmarks.lstm_speed --loop fit --steps 50 --rounds 5 2>&1 | tee "$OUT/lstm_speed.txt"
    python3 -m benchmarks.model_speed --loop fit --steps 50 --rounds 5 --precision mixed_bfloat16 2>&1 | tee "$OUT/model_speed.txt"
    python3 -m benchmarks.xlstm_speed --cases char ptb --steps 20 2>&1 | tee "$OUT/xlstm_speed.txt"
    ;;
compare)  # ~15 min in all (three 3-minute trainings, then their scoring on 200 batches): `watch` for the table
    setsid nohup python3 -m experiments.lstm_vs_transformer --presets wide gpt-small xlstm-large --budgets 3 \
        --nanogpt-batches 200 --output-dir "$RUNS/compare" > "$RUNS/compare.log" 2>&1 &
    echo "started; log in $RUNS/compare.log, table in $RUNS/compare/table.md"
    ;;
train)
    setsid nohup bash -c "
        source '$0' functions
        timed ptb-medium
        timed ptb-medium-builtin
        timed char-large &
        timed mnist
        timed ptb-large &
        timed ptb-awd &
        wait" > "$RUNS/chain.log" 2>&1 &
    echo "started; logs in $RUNS"
    ;;
only)
    shift
    for name in "$@"; do
        [ -n "${TRAININGS[$name]:-}" ] || { echo "unknown training $name; choose from ${!TRAININGS[*]}" >&2; exit 2; }
    done
    setsid nohup bash -c "source '$0' functions; for name in $*; do timed \$name; done" > "$RUNS/chain.log" 2>&1 &
    echo "started $*; logs in $RUNS"
    ;;
functions)  # sourced by the chain above
    ;;
watch)
    end=$((SECONDS + ${2:-540}))
    while :; do  # packs what there is every minute: a command killed at its limit still returns the last pack
        for log in "$RUNS"/*.log; do
            [ -e "$log" ] && echo "== $(basename "$log"): $(grep -E '^Epoch [0-9]+:|^Test|^Kept|^exit' "$log" | tail -n 2 | tr '\n' ' ')"
        done
        nvidia-smi --query-gpu=utilization.gpu,memory.used --format=csv,noheader
        (cd "$RUNS" && find . -name '*.log' -o -name history.csv -o -name results.json -o -name config.json \
            -o -name 'table.*' \
            | tar czf "$OUT/runs.tgz" -T -)
        left=$((end - SECONDS))
        [ $left -le 0 ] && break
        sleep $((left < 60 ? left : 60))
    done
    ;;
*)
    echo "usage: bash benchmarks/gpu_figures.sh speed | train | only NAME... | compare | watch SECONDS" >&2
    exit 2
    ;;
esac
