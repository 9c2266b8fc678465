"""Does the same training, from the same seed, give the same weights in two processes?

    python -m benchmarks.reproducibility --preset awd                 # 4 steps, 3 fresh processes
    python -m benchmarks.reproducibility --preset awd-small --steps 20 --repeats 2

Each repeat is a fresh Python process that builds `train_ptb.py`'s model of the
preset from seed 0, compiles it as the script does, trains it on the first
`--steps` batches of Penn Treebank (state carried, no shuffling) and saves its
weights. This script prints each repeat's last loss and an md5 of its weights,
then the largest difference of every weight between repeats. A difference
means the backend's kernels are not bit-reproducible on this machine for these
shapes (and then two runs of the script, or a run and its resumed copy, drift
apart by more than the last bit once training amplifies it).
"""

import hashlib
import json
import os
import subprocess
import sys
import tempfile

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

from datasets.ptb import ptb_folder
from experiments import command_line, parse, whole_number
from train_ptb import PRESETS
from training.errors import UserError, friendly_main

TRAIN = """
import json, sys
import numpy as np
from training import startup
import train_ptb
startup.start_devices(train_ptb.TWO_OPS_AT_ONCE)  # the backend as the script sets it up
import keras
from datasets import load_ptb
from datasets.batching import stream_rows
from models import build_model
from training.recipe import compile_for_training, model_spec

config = train_ptb.PRESETS[{preset!r}]
train, _, _, vocabulary = load_ptb({data_dir!r})
keras.utils.set_random_seed(0)
model = build_model(model_spec(config, len(vocabulary), {cell!r}, 0), batch_size=config.batch_size,
                    num_steps=config.num_steps, stateful=True)
compile_for_training(model, config)
x, y = stream_rows(train, config.batch_size, config.num_steps)
rows = {steps} * config.batch_size
loss = model.fit(x[:rows], y[:rows], batch_size=config.batch_size, shuffle=False, epochs=1, verbose=0).history["loss"]
np.savez({out!r}, *model.get_weights())
print(json.dumps({{"loss": loss[-1], "names": [w.path for w in model.weights]}}))
"""


@friendly_main
def main(argv=None):
    parser = command_line(__doc__.split("\n\n")[0])
    parser.add_argument("--preset", default="awd", choices=list(PRESETS), help="a train_ptb.py preset (default awd)")
    parser.add_argument("--cell", default="custom", choices=["custom", "builtin"])
    parser.add_argument("--steps", type=whole_number(1), default=4, help="training steps per repeat (default 4)")
    parser.add_argument("--repeats", type=whole_number(2), default=3, help="fresh processes, at least 2 (default 3)")
    parser.add_argument("--data-dir", default=os.environ.get("LSTM_DATA_DIR"), help="default $LSTM_DATA_DIR")
    args = parse(parser, argv)
    ptb_folder(args.data_dir)  # the data before the first process: a clear error, not the child's traceback

    runs = []
    with tempfile.TemporaryDirectory() as folder:
        for repeat in range(args.repeats):
            out = os.path.join(folder, f"weights{repeat}.npz")
            code = TRAIN.format(preset=args.preset, cell=args.cell, steps=args.steps, out=out,
                                data_dir=args.data_dir)
            done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
            if done.returncode:
                raise UserError(f"repeat {repeat + 1} failed in its own process; its last lines:\n"
                                f"{done.stderr.strip()[-3000:]}")
            result = json.loads(done.stdout.strip().splitlines()[-1])
            with np.load(out) as saved:
                weights = [saved[name] for name in saved.files]
            digest = hashlib.md5(b"".join(w.tobytes() for w in weights)).hexdigest()
            print(f"repeat {repeat + 1}: loss {result['loss']!r}, weights md5 {digest}", flush=True)
            runs.append((result, weights, digest))

    names = runs[0][0]["names"]
    digests = {digest for _, _, digest in runs}
    print(f"{args.preset}, {args.cell} cell, {args.steps} steps: {len(digests)} different set(s) of weights "
          f"in {args.repeats} fresh processes")
    for index, name in enumerate(names):
        difference = max(float(np.max(np.abs(weights[index] - runs[0][1][index]))) for _, weights, _ in runs[1:])
        if difference:
            print(f"  {name}: differs by up to {difference:.3g}")


if __name__ == "__main__":
    main()
