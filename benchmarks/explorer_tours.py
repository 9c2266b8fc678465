"""The tour stops explore.py's page finds on a run, read from the page itself in headless Chromium, and its
screenshots at tour stop 1.

    python -m benchmarks.explorer_tours runs/small                      # the stops, as a markdown table
    python -m benchmarks.explorer_tours runs/small --screenshots docs   # and docs/explorer.png, explorer-phone.png

The page finds its tours in JavaScript on its first text (the start of the
run's test split); this prints what `lstm.page.tours()` returns there: each
stop's unit, quantity, position and the character there, and the stop's own
sentence (its correlation and gate means). The screenshots: 1400 × 1000 and a
400 × 800 phone (scrolled to the cell), both at stop 1. Needs Chromium,
chromedriver and selenium (see tests/test_explorer.py).
"""

import os
import tempfile

from training import startup  # first: the backend's environment, set before Keras loads

import explore
from benchmarks.explorer_speed import browser
from experiments import command_line, parse
from training.errors import friendly_main

SHOTS = {"explorer.png": (1400, 1000, None), "explorer-phone.png": (400, 800, "cell")}


def shown(token):
    return {"\n": "↵", " ": "␣"}.get(token, token)


def stops_table(stops, tokens):
    rows = ["| stop | unit | quantity | position (character) | what the page says |", "|---|---|---|---|---|"]
    for k, stop in enumerate(stops):
        rows.append(f"| {k + 1}. {stop['title']} | layer {stop['layer'] + 1}, unit {stop['unit']} | {stop['quantity']} | "
                    f"{stop['position']} ({shown(tokens[stop['position']])}) | {stop['text']} |")
    return "\n".join(rows)


def screenshot(driver, page, path, width, height, scroll_to):
    """The page at stop 1 in a viewport of width × height (a phone: scrolled to `scroll_to`), as a 256-colour PNG."""
    from PIL import Image

    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {"width": width, "height": height,
                                                                   "deviceScaleFactor": 1, "mobile": width < 800})
    driver.get("file://" + os.path.abspath(page))
    driver.execute_script("lstm.page.takeStop(0)")
    if scroll_to:
        driver.execute_script("document.getElementById(arguments[0]).scrollIntoView()", scroll_to)
    driver.save_screenshot(path)
    Image.open(path).convert("RGB").quantize(256).save(path, optimize=True)


@friendly_main
def main(argv=None):
    startup.start_devices()
    parser = command_line(__doc__)
    parser.add_argument("run_dir", help="a run folder of train_char_rnn.py or train_ptb.py")
    parser.add_argument("--screenshots", metavar="DIR", help="write explorer.png and explorer-phone.png here")
    parser.add_argument("--data-dir", help="where the run's data lies")
    args = parse(parser, argv)
    with tempfile.TemporaryDirectory() as tmp:
        page = explore.main([args.run_dir, "--output", os.path.join(tmp, "page.html")]
                            + (["--data-dir", args.data_dir] if args.data_dir else []))
        driver = browser()
        try:
            driver.get("file://" + os.path.abspath(page))
            stops = driver.execute_script("return lstm.page.tours()")
            tokens = driver.execute_script("const r = lstm.run(document.getElementById('input').value);"
                                           "return r.known.map((k) => r.tokens[k]);")
            length = len(tokens)
            if args.screenshots:
                for name, (width, height, scroll_to) in SHOTS.items():
                    screenshot(driver, page, os.path.join(args.screenshots, name), width, height, scroll_to)
        finally:
            driver.quit()
    print(f"{len(stops)} stops on the first text ({length:,} tokens):\n")
    print(stops_table(stops, tokens))
    return stops


if __name__ == "__main__":
    main()
