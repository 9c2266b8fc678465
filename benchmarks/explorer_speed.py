"""How fast explore.py's page opens and recomputes, in headless Chromium, and how large its file is.

    python -m benchmarks.explorer_speed --preset wide          # a model of train_char_rnn.py's `wide` shape
    python -m benchmarks.explorer_speed runs/char-wide         # the model of a run folder

With --preset it builds an untrained model of that preset (Tiny Shakespeare's
65 characters; the speed does not depend on the weights' values) in a
temporary run folder. It writes the page, opens it `--repeats` times in a fresh
tab (the open time is the page's own `lstm.timings.ready`: milliseconds from
the start of navigation until the passage is read, coloured, ranked and
plotted), then times `lstm.run` on the first 2,000 characters of the test
split (the median of `--repeats` runs). Needs Chromium, chromedriver and
selenium (see tests/test_explorer.py).
"""

import dataclasses
import json
import os
import platform
import statistics
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

from training import startup  # first: the backend's environment, set before Keras loads

import explore
import train_char_rnn
from datasets import load_shakespeare
from experiments import command_line, parse, whole_number
from models import build_model
from tests.test_explorer import CHROMEDRIVER, CHROMIUM
from training.errors import friendly_main
from training.recipe import model_spec

RECOMPUTE_CHARS = 2_000


def preset_run(folder, preset, data_dir=None):
    """A run folder holding an untrained model of train_char_rnn.py's `preset` and Tiny Shakespeare's characters."""
    *_, vocabulary = load_shakespeare(data_dir)
    spec = model_spec(train_char_rnn.PRESETS[preset], len(vocabulary), "custom", 0)
    settings = {"script": "train_char_rnn.py", "preset": preset, "cell": "custom", "seed": 0, "data": {"text": None},
                "model": dataclasses.asdict(spec)}
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, "config.json"), "w") as f:
        json.dump(settings, f)
    with open(os.path.join(folder, "vocab.json"), "w") as f:
        json.dump(vocabulary.to_json(), f)
    build_model(dataclasses.asdict(spec), batch_size=1, num_steps=1).save(os.path.join(folder, "model.keras"))
    return folder


def browser():
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage"):
        options.add_argument(argument)
    return webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)


def measure(page, text, repeats):
    driver = browser()
    try:
        opens = []
        for _ in range(repeats):
            driver.get("about:blank")
            driver.get("file://" + os.path.abspath(page))
            opens.append(driver.execute_script("return lstm.timings.ready"))
        info = driver.execute_script("return lstm.info")
        runs = [driver.execute_script("const t = performance.now(); const r = lstm.run(arguments[0]);"
                                      "return [performance.now() - t, r.length];", text) for _ in range(repeats)]
    finally:
        driver.quit()
    return {"open_ms": statistics.median(opens), "recompute_ms": statistics.median(r[0] for r in runs),
            "tokens": runs[0][1], "fused_multiply_add": info["fusedMultiplyAdd"], "units": info["units"]}


@friendly_main
def main(argv=None):
    startup.start_devices()
    parser = command_line(__doc__)
    parser.add_argument("run_dir", nargs="?", help="a run folder of train_char_rnn.py (default: --preset)")
    parser.add_argument("--preset", default="wide", choices=train_char_rnn.PRESETS,
                        help="train_char_rnn.py preset of the untrained model (default wide)")
    parser.add_argument("--repeats", type=whole_number(1), default=5,
                        help="page opens and recomputes to take the median of (default 5)")
    parser.add_argument("--data-dir", help="where Tiny Shakespeare lies")
    args = parse(parser, argv)
    text = load_shakespeare(args.data_dir)[2][:RECOMPUTE_CHARS]
    with tempfile.TemporaryDirectory() as tmp:
        run_dir = args.run_dir or preset_run(os.path.join(tmp, f"char-{args.preset}"), args.preset, args.data_dir)
        page = explore.main([run_dir, "--output", os.path.join(tmp, "page.html")]
                            + (["--data-dir", args.data_dir] if args.data_dir else []))
        size = os.path.getsize(page)
        result = {"page_mb": size / 1e6, **measure(page, text, args.repeats)}
    version = os.popen(f"{CHROMIUM} --version 2>/dev/null").read().strip()
    print(f"| {args.run_dir or args.preset} | {'×'.join(map(str, result['units']))} | {result['page_mb']:.1f} MB | "
          f"{result['open_ms'] / 1e3:.2f} s | {result['recompute_ms'] / 1e3:.3f} s ({result['tokens']:,} chars) | "
          f"{'relaxed SIMD' if result['fused_multiply_add'] else 'SIMD'} | {version} | {platform.processor() or platform.machine()} |")
    print("RESULT " + json.dumps(result))
    return result


if __name__ == "__main__":
    main()
