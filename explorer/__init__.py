"""A trained language model in one self-contained HTML page: its forward pass in JavaScript, gates and all.

    from explorer import page_html
    from explorer.export import payload
    html = page_html(payload(model, vocabulary, settings, passage, title))   # what explore.py writes

The page embeds the weights (`explorer.export.payload`), a WebAssembly kernel
for the matrix products (`explorer.kernel`) and `explorer.js`; it needs no
network and no server.
"""

import base64
import json
import os

from explorer.kernel import module_bytes

HERE = os.path.dirname(os.path.abspath(__file__))


def page_html(data):
    """The page for a payload of `explorer.export.payload`."""
    with open(os.path.join(HERE, "page.html"), encoding="utf-8") as f:
        page = f.read()
    with open(os.path.join(HERE, "explorer.js"), encoding="utf-8") as f:
        script = f.read()
    # "<" only occurs inside JSON strings: as \u003c no "</script>" or "<!--" can end or confuse the script element
    model = json.dumps(data, ensure_ascii=False).replace("<", "\\u003c")
    kernel = json.dumps({kind: base64.b64encode(module_bytes(kind == "relaxed")).decode("ascii")
                         for kind in ("plain", "relaxed")})
    return page.replace("/*MODEL*/", model).replace("/*KERNEL*/", kernel).replace("/*EXPLORER*/", script)
