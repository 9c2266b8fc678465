"""The docs against the code: names, links, anchors, paths, flags and presets that README.md and docs/*.md mention.

Cheap on purpose: the code is read with `ast`, never imported (no TensorFlow, no Keras), so the whole file runs in
about a second. Each failure names the doc line (file:line) and what it points to.

What is checked:
- backticked `package.module.name` (and `Class.attr` of a project class, `module.name` of a project module),
  "`path.py`'s `name`", "`name` (path.py)", "`name` in `path.py`", and `from package import a, b` in the docs'
  Python blocks and in the packages' docstrings: the name is defined there (followed through imports);
- links `[text](path#anchor)` in the docs, and `docs/<file>.md#anchor` / `README.md#anchor` / `README, "Heading"`
  anywhere in the repository's .py files: the file exists and has that heading (GitHub's anchor rule);
- backticked paths that start with a folder or file of the project exist;
- every `--flag` of a command line shown in the docs (python train_ptb.py ..., python -m benchmarks.X ...) is one of
  that script's argparse flags (its own add_argument calls and those of the project functions it uses); a flag
  shown alone is a flag of some script; `--preset NAME` is in that script's PRESETS, and the README's preset
  tables list exactly each script's PRESETS, with the script's default;
- the README's Layout block names files that exist and lists every script, experiment and benchmark;
- `python X.py` and `python -m experiments.X` name what exists; experiments and benchmarks are shown as
  `python -m experiments.X`, never as `python experiments/X.py` (in the docs and in the code's docstrings).

`python -m pytest -q tests/test_docs.py --noconftest` runs it in about a second; with tests/conftest.py (which
imports TensorFlow for the other tests) it takes the few seconds of that import more.
"""

import ast
import builtins
import functools
import os
import re
import shlex
import subprocess
import unicodedata

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PACKAGES = ("models", "datasets", "training", "explorer", "experiments", "benchmarks")
LIBRARIES = ("models", "datasets", "training", "explorer")  # the packages whose functions a script's parser may use
SCRIPTS = ("train_ptb.py", "train_char_rnn.py", "train_mnist_bilstm.py", "sample.py", "explore.py",
           "predict_mnist.py")
FILE_ENDINGS = (".py", ".js", ".html", ".md", ".json", ".png", ".txt", ".keras", ".sh", ".csv", ".tgz")
# Flags of other programs that the docs quote alone: XLA's (XLA_FLAGS), nanoGPT's command line, pytest's.
FOREIGN_FLAGS = r"--(xla_\w+|eval_iters|durations|dist)"


# ---------------------------------------------------------------------------------------------------------------
# The repository's files


@functools.lru_cache(maxsize=None)
def repo_files():
    """The repository's files, relative to ROOT (git's list; the folder's files where there is no git)."""
    try:
        listed = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
        files = [line for line in listed.splitlines() if line]
        if files:
            return tuple(path for path in files if os.path.exists(os.path.join(ROOT, path)))
    except (OSError, subprocess.CalledProcessError):
        pass
    found = []
    for folder, dirs, names in os.walk(ROOT):
        dirs[:] = [d for d in dirs if not d.startswith(".") and d not in ("runs", "__pycache__")]
        found += [os.path.relpath(os.path.join(folder, name), ROOT) for name in names]
    return tuple(sorted(found))


THIS_FILE = os.path.relpath(os.path.abspath(__file__), ROOT)  # its docstring shows the forms it looks for


def code_files(*endings):
    """The repository's files with these endings, less this one."""
    return [path for path in repo_files() if path.endswith(endings) and path != THIS_FILE]


def doc_files():
    docs = sorted(path for path in repo_files() if path.startswith("docs/") and path.endswith(".md"))
    return ["README.md"] + docs


def read(path):
    with open(os.path.join(ROOT, path), encoding="utf-8") as f:
        return f.read()


def line_of(text, offset):
    return text.count("\n", 0, offset) + 1


# ---------------------------------------------------------------------------------------------------------------
# Markdown


@functools.lru_cache(maxsize=None)
def markdown(path):
    """(prose, fences): the text with fenced blocks blanked out (offsets and lines kept), and the fenced blocks as
    (language, first line number, [lines])."""
    text = read(path)
    prose, fences, fence = [], [], None
    for number, line in enumerate(text.split("\n"), start=1):
        marker = re.match(r"\s*(```+|~~~+)\s*(\w*)", line)
        if fence is None and marker:
            fence = (marker.group(1), marker.group(2), number + 1, [])
            prose.append(" " * len(line))
        elif fence is not None and line.strip().startswith(fence[0]):
            fences.append(fence[1:])
            fence = None
            prose.append(" " * len(line))
        elif fence is not None:
            fence[3].append(line)
            prose.append(" " * len(line))
        else:
            prose.append(line)
    return "\n".join(prose), fences


def code_spans(prose):
    """(offset, content) of every inline code span (within a paragraph; a span may wrap lines)."""
    for match in re.finditer(r"(?<!`)(`+)(?!`)((?:(?!\n[ \t]*\n).)+?)(?<!`)\1(?!`)", prose, re.S):
        yield match.start(2), match.group(2).replace("\n", " ").strip()


def slug(heading):
    """GitHub's anchor of a heading: its text lower-cased, every character but letters, marks, numbers, connector
    punctuation ('_'), '-' and spaces dropped, spaces to '-'."""
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # links and images: their text
    text = text.strip().lower()
    kept = "".join(c for c in text if c in " -" or unicodedata.category(c)[0] in "LNM" or
                   unicodedata.category(c) == "Pc")
    return kept.replace(" ", "-")


@functools.lru_cache(maxsize=None)
def headings(path):
    """{anchor: heading text} of a Markdown file, duplicates numbered as GitHub does (-1, -2, ...)."""
    prose, _ = markdown(path)
    anchors, seen = {}, {}
    for line in prose.split("\n"):
        match = re.match(r"#{1,6}\s+(.*?)\s*#*\s*$", line)
        if not match:
            continue
        base = slug(match.group(1))
        anchor = base if base not in seen else f"{base}-{seen[base]}"
        seen[base] = seen.get(base, 0) + 1
        anchors[anchor] = match.group(1).strip()
    return anchors


def heading_texts(path):
    return {re.sub(r"[`*]", "", text) for text in headings(path).values()}


# ---------------------------------------------------------------------------------------------------------------
# The code, read with ast


def module_path(dotted):
    """The file of a project module ("models.layer" → models/layer.py), or None."""
    base = os.path.join(*dotted.split("."))
    for candidate in (base + ".py", os.path.join(base, "__init__.py")):
        if candidate in repo_files():
            return candidate
    return None


def dotted_of(path):
    path = path[: -len(".py")]
    if path.endswith("/__init__"):
        path = path[: -len("/__init__")]
    return path.replace("/", ".")


@functools.lru_cache(maxsize=None)
def tree(path):
    return ast.parse(read(path), filename=path)


def top_level(body):
    """The statements of a module body, including those inside if/try/with blocks (not inside defs)."""
    for node in body:
        yield node
        if isinstance(node, (ast.If, ast.Try, ast.With)):
            for field in ("body", "orelse", "finalbody", "handlers"):
                for child in getattr(node, field, []):
                    if isinstance(child, ast.ExceptHandler):
                        yield from top_level(child.body)
                    else:
                        yield from top_level([child])


def absolute(module, node):
    """The absolute module name of an ImportFrom node in `module` (dotted)."""
    if not node.level:
        return node.module
    package = module.split(".")
    package = package[: len(package) - node.level + (1 if module_path(module).endswith("__init__.py") else 0)]
    return ".".join(package + ([node.module] if node.module else []))


@functools.lru_cache(maxsize=None)
def definitions(module):
    """{name: ("def"|"class"|"value", node) or ("import", (module, name or None))} of a project module's top level."""
    names = {}
    for node in top_level(tree(module_path(module)).body):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            names[node.name] = ("def", node)
        elif isinstance(node, ast.ClassDef):
            names[node.name] = ("class", node)
        elif isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
            for target in node.targets if isinstance(node, ast.Assign) else [node.target]:
                for name in ast.walk(target):
                    if isinstance(name, ast.Name):
                        names[name.id] = ("value", node)
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.asname:
                    names[alias.asname] = ("import", (alias.name, None))
                else:
                    names[alias.name.split(".")[0]] = ("import", (alias.name.split(".")[0], None))
        elif isinstance(node, ast.ImportFrom):
            source = absolute(module, node)
            for alias in node.names:
                names[alias.asname or alias.name] = ("import", (source, alias.name))
    return names


def is_project(module):
    return module is not None and module_path(module) is not None


def class_members(module, node, depth=0):
    """The names a project class defines in its body and those of its project bases (a Keras base's are not
    listed: the docs name what the project's classes add or override)."""
    members = set()
    for child in node.body:
        if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            members.add(child.name)
        elif isinstance(child, (ast.Assign, ast.AnnAssign)):
            for target in child.targets if isinstance(child, ast.Assign) else [child.target]:
                if isinstance(target, ast.Name):
                    members.add(target.id)
    if depth > 10:
        return members
    for base in node.bases:
        if isinstance(base, ast.Name) and base.id == "object":
            continue
        found = lookup(module, [base.id]) if isinstance(base, ast.Name) else None
        if found and found[0] == "class":
            members |= class_members(found[1], found[2], depth + 1)
    return members


def lookup(module, parts, depth=0):
    """What `module`.parts names: ("module", dotted), ("class", module, node), ("def"/"value", module, node),
    ("external", name) for what the project imports from elsewhere, or None where it is not defined."""
    if not parts:
        return ("module", module)
    if depth > 20:
        return None
    first, rest = parts[0], parts[1:]
    names = definitions(module)
    if first in names:
        kind, what = names[first]
        if kind == "import":
            source, name = what
            if name is None:
                target = ("module", source) if is_project(source) else ("external", source)
            elif is_project(source):
                target = lookup(source, [name], depth + 1) if name in definitions(source) or not \
                    is_project(f"{source}.{name}") else ("module", f"{source}.{name}")
            else:
                target = ("external", f"{source}.{name}")
            if target is None or not rest or target[0] == "external":
                return target
            if target[0] == "module":
                return lookup(target[1], rest, depth + 1)
            return member(target, rest)
        if not rest:
            return (kind, module, what)
        return member((kind, module, what), rest)
    if is_project(f"{module}.{first}") and module_path(module).endswith("__init__.py"):
        return lookup(f"{module}.{first}", rest, depth + 1)
    return None


def member(found, rest):
    """An attribute of a class found by `lookup` (methods, class attributes, dataclass fields)."""
    if found[0] != "class":
        return ("value", found[1], found[2])  # an attribute of a value: not checked further
    members = class_members(found[1], found[2])
    if rest[0] not in members:
        return None
    child = next((c for c in found[2].body if getattr(c, "name", None) == rest[0]), None)
    if isinstance(child, ast.ClassDef) and len(rest) > 1:
        return member(("class", found[1], child), rest[1:])
    return ("def", found[1], child)


def resolve(dotted):
    """lookup() of a dotted name that starts with a project package or module."""
    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        if is_project(".".join(parts[:cut])):
            return lookup(".".join(parts[:cut]), parts[cut:])
    return None


@functools.lru_cache(maxsize=None)
def module_basenames():
    """{basename: dotted} of the project's modules inside packages whose basename is unique."""
    counts = {}
    for path in repo_files():
        if path.endswith(".py") and path.split("/")[0] in PACKAGES and not path.endswith("__init__.py"):
            counts.setdefault(os.path.basename(path)[:-3], []).append(dotted_of(path))
    return {name: dotted[0] for name, dotted in counts.items() if len(dotted) == 1}


@functools.lru_cache(maxsize=None)
def project_classes():
    """{class name: [(module, node)]} of every class defined in the packages and scripts."""
    classes = {}
    for path in repo_files():
        if path.endswith(".py") and not path.startswith("tests/"):
            for node in top_level(tree(path).body):
                if isinstance(node, ast.ClassDef):
                    classes.setdefault(node.name, []).append((dotted_of(path), node))
    return classes


# ---------------------------------------------------------------------------------------------------------------
# Flags and presets of the scripts


def literal_flags(nodes):
    """The '--flags' of the add_argument calls within `nodes`."""
    flags = set()
    for node in nodes:
        for call in ast.walk(node):
            if isinstance(call, ast.Call) and isinstance(call.func, ast.Attribute) and \
                    call.func.attr == "add_argument":
                flags |= {arg.value for arg in call.args if isinstance(arg, ast.Constant)
                          and isinstance(arg.value, str) and arg.value.startswith("--")}
    return flags


def referenced_functions(module, nodes):
    """(module, function node) of the functions of the library packages (training/, models/, ...; not another
    script, experiment or benchmark, whose own command line is not this one's) that `nodes` name (`f`, `module.f`)."""
    found = []
    for node in nodes:
        for name in ast.walk(node):
            parts = None
            if isinstance(name, ast.Name):
                parts = [name.id]
            elif isinstance(name, ast.Attribute) and isinstance(name.value, ast.Name):
                parts = [name.value.id, name.attr]
            if parts:
                target = lookup(module, parts) if parts[0] in definitions(module) else None
                if target and target[0] == "def" and isinstance(target[2], ast.FunctionDef) and \
                        target[1].split(".")[0] in LIBRARIES:
                    found.append((target[1], target[2]))
    return found


@functools.lru_cache(maxsize=None)
def script_flags(module):
    """Every flag a script's argparse takes: its own add_argument calls and those of the project functions it
    uses (training/cli.py's parse_script_args, training/regularization.py's add_without_argument, ...)."""
    body = tree(module_path(module)).body
    flags, seen = literal_flags(body), set()
    todo = referenced_functions(module, body)
    while todo:
        owner, function = todo.pop()
        if (owner, function.name) in seen:
            continue
        seen.add((owner, function.name))
        flags |= literal_flags(function.body)
        todo += referenced_functions(owner, function.body)
    return frozenset(flags)


@functools.lru_cache(maxsize=None)
def all_flags():
    flags = set()
    for path in repo_files():
        if path.endswith(".py") and not path.startswith("tests/"):
            flags |= script_flags(dotted_of(path))
    return frozenset(flags)


def dict_keys(node):
    if isinstance(node, ast.Dict) and all(isinstance(k, ast.Constant) for k in node.keys):
        return [k.value for k in node.keys]
    return None


@functools.lru_cache(maxsize=None)
def own_presets(module):
    """The keys of a module's PRESETS dict, in order, or None."""
    kind_node = definitions(module).get("PRESETS")
    if kind_node and kind_node[0] == "value" and isinstance(kind_node[1], ast.Assign):
        return dict_keys(kind_node[1].value)
    return None


def presets_of(module):
    """The presets `--preset` / `--presets` of a script choose from: its own PRESETS dict, else those of the one
    training script whose PRESETS it uses (benchmarks.reproducibility: train_ptb's)."""
    source = presets_source(module)
    return tuple(own_presets(source)) if source else None


@functools.lru_cache(maxsize=None)
def presets_source(module):
    """The module whose PRESETS dict `module`'s --preset chooses from, or None."""
    if own_presets(module) is not None:
        return module
    used = set()
    for node in ast.walk(tree(module_path(module))):
        if isinstance(node, ast.Attribute) and node.attr == "PRESETS" and isinstance(node.value, ast.Name):
            target = lookup(module, [node.value.id])
            if target and target[0] == "module" and own_presets(target[1]) is not None:
                used.add(target[1])
    entry = definitions(module).get("PRESETS")
    if entry and entry[0] == "import" and own_presets(entry[1][0]) is not None:
        used.add(entry[1][0])
    return used.pop() if len(used) == 1 else None


def default_preset(module):
    """The default preset a script hands parse_script_args, or None."""
    for node in ast.walk(tree(module_path(module))):
        if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "parse_script_args" and len(node.args) > 2:
            if isinstance(node.args[2], ast.Constant):
                return node.args[2].value
    return None


# ---------------------------------------------------------------------------------------------------------------
# Commands in the docs


def commands_of(path):
    """(line number, command text) of every shell command the docs show: fenced shell lines (continuations
    joined, comments dropped) and inline code spans."""
    prose, fences = markdown(path)
    for language, first, lines in fences:
        if language not in ("", "bash", "sh", "shell", "console"):
            continue
        pending, start = "", None
        for number, line in enumerate(lines, start=first):
            start = number if start is None else start
            if line.rstrip().endswith("\\"):
                pending += line.rstrip()[:-1] + " "
                continue
            yield start, pending + line
            pending, start = "", None
    for match in re.finditer(r"^ {4,}((?:[A-Z_]+=\S* )*(?:python3?|bash) .*)$", prose, re.M):  # indented blocks
        yield line_of(prose, match.start()), match.group(1)
    for offset, span in code_spans(prose):
        yield line_of(prose, offset), span


def command_script(tokens, index):
    """The project module run by tokens[index] (a script, an experiment's or benchmark's file, or `-m X` after
    python), or None."""
    token = tokens[index]
    if token.endswith(".py") and os.path.basename(token) in SCRIPTS:
        return os.path.basename(token)[:-3]
    if token.endswith(".py") and module_basenames().get(os.path.basename(token)[:-3], "").split(".")[0] in \
            ("experiments", "benchmarks"):
        return module_basenames()[os.path.basename(token)[:-3]]
    if token == "-m" and index + 1 < len(tokens) and tokens[index + 1].split(".")[0] in ("experiments", "benchmarks"):
        return tokens[index + 1] if is_project(tokens[index + 1]) else "missing:" + tokens[index + 1]
    return None


def split_command(text):
    text = text.replace("\\|", " | ")
    try:
        tokens = shlex.split(text, comments=True)
    except ValueError:
        tokens = text.split()
    segments, current = [], []
    for token in tokens:
        if token in ("|", "||", "&&", ";", "&"):
            segments.append(current)
            current = []
        else:
            current.append(token)
    return segments + [current]


def shown_flags(path):
    """(line, script module or None, flag, value or None) of every --flag the doc shows; the script is the one the
    command runs, or, for a flag shown alone in a table row, the command in the row's first cell."""
    prose, _ = markdown(path)
    row_scripts = {}
    lines = prose.split("\n")
    for number, line in enumerate(lines, start=1):
        if line.lstrip().startswith("|"):
            cells = re.split(r"(?<!\\)\|", line.strip())[1:]
            first = re.match(r"\s*`([^`]+)`\s*$", cells[0]) if cells else None
            if first:
                for tokens in split_command(first.group(1)):
                    scripts = [command_script(tokens, i) for i in range(len(tokens))]
                    scripts = [s for s in scripts if s]
                    if len(scripts) == 1:
                        row_scripts[number] = scripts[0]
    for number, text in commands_of(path):
        for tokens in split_command(text):
            script, index = None, 0
            for i, token in enumerate(tokens):
                found = command_script(tokens, i)
                if found:
                    script, index = found, i + 1
            if script is None:
                if not tokens or not tokens[0].startswith("--"):
                    continue  # another program's command line (pip, pytest, bash, ...)
                script = row_scripts.get(number)  # flags shown alone
            for i, token in enumerate(tokens[index:], start=index):
                flag = re.fullmatch(r"(--[a-zA-Z][\w-]*)(?:=(.*))?", token)
                if flag:
                    value = flag.group(2)
                    if value is None and i + 1 < len(tokens) and not tokens[i + 1].startswith("-"):
                        value = tokens[i + 1]
                    yield number, script, flag.group(1), value


# ---------------------------------------------------------------------------------------------------------------
# The tests


def test_docs_are_found():
    assert {"README.md", "docs/results.md", "docs/speed.md"} <= set(doc_files())
    assert headings("README.md"), "no headings found in README.md"


def test_slug_follows_github():
    assert slug("Several devices and hosts: `--distribute data`") == "several-devices-and-hosts---distribute-data"
    assert slug("`benchmarks/gpu_figures.sh`") == "benchmarksgpu_figuressh"
    assert slug("PTB awd-small and awd-small-long") == "ptb-awd-small-and-awd-small-long"
    assert slug("Install and run, install and test") == "install-and-run-install-and-test"


def anchor_problem(target, anchor):
    """What is wrong with a link to `target` (a repository path) and `anchor`, or None."""
    if target not in repo_files() and not os.path.isdir(os.path.join(ROOT, target)):
        return f"{target} does not exist"
    if anchor and target.endswith(".md") and anchor not in headings(target):
        near = [a for a in headings(target) if anchor.split("-")[0] in a][:8]
        return f"{target} has no heading #{anchor}" + (f" (headings like it: {', '.join(near)})" if near else "")
    return None


def test_markdown_links_point_to_existing_files_and_headings():
    problems = []
    for path in doc_files():
        prose, _ = markdown(path)
        for match in re.finditer(r"!?\[[^\]]*\]\(([^)\s]+)\)", prose):
            target = match.group(1)
            if re.match(r"[a-z]+:", target):
                continue
            file, _, anchor = target.partition("#")
            file = os.path.normpath(os.path.join(os.path.dirname(path), file)) if file else path
            problem = anchor_problem(file, anchor)
            if problem:
                problems.append(f"{path}:{line_of(prose, match.start())}: link ({target}): {problem}")
    assert not problems, "\n".join(problems)


def citation_problems(files):
    """docs/x.md#anchor, README.md#anchor and README, "Heading" in `files` (outside Markdown links): the file and
    its heading exist."""
    problems = []
    for path in files:
        text = read(path)
        for match in re.finditer(r"(?<![\w./])(docs/[\w.-]+\.md|README\.md)(?:#([\w-]+))?", text):
            if path.endswith(".md") and text[match.start() - 1: match.start()] == "(":
                continue  # a Markdown link: the link test checks it, relative to its file
            problem = anchor_problem(match.group(1), match.group(2))
            if problem:
                problems.append(f"{path}:{line_of(text, match.start())}: {match.group(0)}: {problem}")
        for match in re.finditer(r"(docs/[\w.-]+\.md|README(?:\.md)?),?\s+\"([^\"]+)\"", text):
            doc = match.group(1) if match.group(1).endswith(".md") else "README.md"
            title = re.sub(r"\s+", " ", match.group(2))
            if title not in heading_texts(doc):
                problems.append(f"{path}:{line_of(text, match.start())}: {match.group(0)!r}: {doc} has no "
                                f"heading {title!r} (its headings: {', '.join(sorted(heading_texts(doc)))})")
    return problems


def test_doc_and_section_citations_in_the_docs_exist():
    problems = citation_problems(doc_files())
    assert not problems, "\n".join(problems)


def test_doc_and_section_citations_in_the_code_exist():
    """The comments and docstrings of every .py file that cite docs/x.md#anchor, README.md#anchor or
    README, "Heading"."""
    problems = citation_problems(code_files(".py"))
    assert not problems, "\n".join(problems)


def name_references(path, text, spans):
    """(line, dotted name or None, file or None, name) of what a doc or docstring says the code defines."""
    basenames = module_basenames()
    for offset, span in spans:
        match = re.fullmatch(r"([A-Za-z_][\w.]*\.[A-Za-z_]\w*)(\(.*\))?", span)
        if not match or match.group(1).endswith(FILE_ENDINGS):
            continue
        dotted = match.group(1)
        first = dotted.split(".")[0]
        if first in PACKAGES:
            yield line_of(text, offset), dotted, None, None
        elif first in basenames:
            yield line_of(text, offset), basenames[first] + dotted[len(first):], None, None
        elif first in project_classes() and len(project_classes()[first]) == 1:
            module, _ = project_classes()[first][0]
            yield line_of(text, offset), f"{module}.{dotted}", None, None
    patterns = (
        r"`?(?P<path>[\w/]+\.py)`?'s `(?P<name>[A-Za-z_][\w.-]*)",
        r"`(?P<name>[A-Za-z_][\w.]*)(?:\([^`]*\))?` \(`?(?P<path>[\w/]+\.py)`?[,;)]",
        r"`(?P<name>[A-Za-z_][\w.]*)(?:\([^`]*\))?` in `?(?P<path>[\w/]+\.py)\b",
    )
    for pattern in patterns:
        for match in re.finditer(pattern, text):
            yield line_of(text, match.start()), None, match.group("path"), match.group("name")


def script_defines(module, name):
    """Whether a module defines `name`: a top-level name, or for a training script also one of its presets or a
    field of its Config (the docs say "`train_ptb.py`'s `awd`", "`average_window` (`train_ptb.py`)")."""
    if lookup(module, name.split(".")) is not None:
        return True
    if name in (own_presets(module) or ()):
        return True
    config = definitions(module).get("Config")
    return bool(config) and config[0] == "class" and name in class_members(module, config[1])


def docstring_spans(path):
    docstring = ast.get_docstring(tree(path), clean=False) or ""
    text = read(path)
    start = text.find(docstring)
    return text, [(start + m.start(2), m.group(2)) for m in
                  re.finditer(r"(?<!`)(`+)(?!`)([^`\n]+?)\1(?!`)", docstring)], docstring, start


def check_import_lines(path, text, start, block, problems):
    for match in re.finditer(r"^\s*from ([\w.]+) import ([^#\n]+)", block, re.M):
        if match.group(1).split(".")[0] not in PACKAGES:
            continue
        for name in re.split(r"[,\s()]+", match.group(2).strip()):
            if name and name != "..." and resolve(f"{match.group(1)}.{name}") is None:
                problems.append(f"{path}:{line_of(text, start + match.start())}: `from {match.group(1)} import "
                                f"{name}`: {match.group(1)} has no {name}")


def check_example_calls(package, text, start, docstring, problems):
    """The indented example lines of a package's docstring: each function they call is the package's (or imported
    from the project by an example line above)."""
    imported = {}
    for match in re.finditer(r"^[ \t]{4,}(\S.*)$", docstring, re.M):
        code = match.group(1).split("#")[0].strip()
        try:
            nodes = ast.parse(code)
        except SyntaxError:
            continue
        for node in ast.walk(nodes):
            if isinstance(node, ast.ImportFrom):
                imported.update({alias.asname or alias.name: f"{node.module}.{alias.name}" for alias in node.names})
            if not isinstance(node, ast.Call):
                continue
            name = node.func
            parts = []
            while isinstance(name, ast.Attribute):
                parts.insert(0, name.attr)
                name = name.value
            if not isinstance(name, ast.Name) or hasattr(builtins, name.id):
                continue
            dotted = ".".join([imported.get(name.id, name.id if name.id in PACKAGES else f"{package}.{name.id}")]
                              + parts)
            if dotted.split(".")[0] in PACKAGES and resolve(dotted) is None:
                problems.append(f"{package}/__init__.py:{line_of(text, start + match.start())}: `{code}`: "
                                f"`{dotted}` is not defined in the code")


def test_names_the_docs_mention_are_defined():
    problems = []
    sources = []
    for path in doc_files():
        prose, fences = markdown(path)
        sources.append((path, prose, list(code_spans(prose))))
        text = read(path)
        for language, first, lines in fences:
            if language == "python":
                block = "\n".join(lines)
                check_import_lines(path, text, text.find(block), block, problems)
    for package in ("explorer", "models", "datasets", "training", "experiments", "benchmarks"):
        path = f"{package}/__init__.py"
        text, spans, docstring, start = docstring_spans(path)
        sources.append((path, text[: start + len(docstring)], spans))
        check_import_lines(path, text, start, docstring, problems)
        check_example_calls(package, text, start, docstring, problems)
    for path, text, spans in sources:
        for line, dotted, file, name in name_references(path, text, spans):
            if dotted is not None:
                if resolve(dotted) is None:
                    problems.append(f"{path}:{line}: `{dotted}` is not defined in the code")
            elif file not in repo_files():
                problems.append(f"{path}:{line}: {file} (for `{name}`) does not exist")
            elif not script_defines(dotted_of(file), name):
                problems.append(f"{path}:{line}: {file} defines no `{name}`")
    assert not problems, "\n".join(problems)


def test_paths_the_docs_mention_exist():
    tops = {path.split("/")[0] for path in repo_files()}
    problems = []
    for path in doc_files():
        prose, _ = markdown(path)
        for offset, span in code_spans(prose):
            if re.fullmatch(r"[\w.-]+(/[\w.-]+)+/?", span) and span.split("/")[0] in tops:
                target = span.rstrip("/")
                if target not in repo_files() and not os.path.isdir(os.path.join(ROOT, target)):
                    problems.append(f"{path}:{line_of(prose, offset)}: `{span}` does not exist")
    assert not problems, "\n".join(problems)


def test_commands_run_what_exists_as_it_is_run():
    """`python X.py` runs a script that exists; `python -m experiments.X` / `benchmarks.X` a module that exists;
    experiments and benchmarks are never run as files (they import the project as packages from its root)."""
    problems = []
    for path in doc_files() + code_files(".py", ".sh"):
        text = read(path)
        for match in re.finditer(r"python3?\s+((experiments|benchmarks)/(\w+)\.py)", text):
            problems.append(f"{path}:{line_of(text, match.start())}: `{' '.join(match.group(0).split())}`: run it "
                            f"from the project root as `python -m {match.group(2)}.{match.group(3)}`")
        for match in re.finditer(r"python3?\s+-m\s+((?:experiments|benchmarks)\.\w+)", text):
            if not is_project(match.group(1)):
                problems.append(f"{path}:{line_of(text, match.start())}: `python -m {match.group(1)}`: no such module")
        for match in re.finditer(r"python3?\s+([\w./-]+\.py)\b", text):
            if match.group(1) not in repo_files() and not match.group(1).startswith(("experiments/", "benchmarks/")):
                problems.append(f"{path}:{line_of(text, match.start())}: `python {match.group(1)}`: no such script")
    assert not problems, "\n".join(problems)


def test_flags_shown_exist():
    problems = []
    for path in doc_files():
        for line, script, flag, _ in shown_flags(path):
            if script and script.startswith("missing:"):
                problems.append(f"{path}:{line}: python -m {script[8:]}: no such module")
            elif script:
                if flag not in script_flags(script):
                    problems.append(f"{path}:{line}: {flag} is not a flag of {script.replace('.', '/')}.py "
                                    f"(its flags: {' '.join(sorted(script_flags(script)))})")
            elif flag not in all_flags() and not re.fullmatch(FOREIGN_FLAGS, flag):
                problems.append(f"{path}:{line}: {flag} is not a flag of any script")
    assert not problems, "\n".join(problems)


def test_flag_extraction_reads_the_shared_command_line():
    """The ast reading of argparse finds the common flags (training/cli.py) and --without
    (training/regularization.py), so the flag test compares against the real command lines."""
    common = {"--preset", "--cell", "--resume", "--batch-layout", "--without", "--lr-schedule"}
    assert common <= script_flags("train_ptb")
    assert {"--source", "--text", "--nanogpt-batches", "--without"} <= script_flags("train_char_rnn")
    assert "--batch-layout" not in script_flags("train_mnist_bilstm")
    assert {"--prime", "--evaluate-nanogpt"} <= script_flags("sample")
    assert presets_of("benchmarks.reproducibility") == presets_of("train_ptb")
    assert "wide" in presets_of("experiments.lstm_vs_transformer")


def test_presets_shown_exist():
    problems = []
    union = set()
    for script in SCRIPTS:
        union |= set(presets_of(script[:-3]) or ())
    for path in doc_files():
        for line, script, flag, value in shown_flags(path):
            if flag not in ("--preset", "--presets") or value is None or not re.fullmatch(r"[a-z][\w,-]*", value):
                continue
            presets = presets_of(script) if script and not script.startswith("missing:") else None
            names = value.split(",") if flag == "--presets" else [value]
            for name in names:
                if presets is not None and name not in presets:
                    problems.append(f"{path}:{line}: {flag} {value}: {name} is not one of "
                                    f"{presets_source(script).replace('.', '/')}.py's presets ({', '.join(presets)})")
                elif presets is None and name not in union:
                    problems.append(f"{path}:{line}: {flag} {value}: {name} is no script's preset")
    assert not problems, "\n".join(problems)


def test_readme_preset_tables_list_each_scripts_presets():
    """Under "**`train_x.py`** (default `name`)" the table's first column lists exactly the script's PRESETS."""
    prose, _ = markdown("README.md")
    lines = prose.split("\n")
    problems, tables = [], 0
    for number, line in enumerate(lines, start=1):
        caption = re.match(r"\*\*`(\w+)\.py`\*\*(?: \(default `([\w-]+)`\))?", line)
        if not caption:
            continue
        tables += 1
        script, default = caption.groups()
        presets = presets_of(script) or ()
        if default != default_preset(script):
            problems.append(f"README.md:{number}: {script}.py's default preset is {default_preset(script)}, the "
                            f"caption says {default}")
        listed = []
        row = number + 1
        while row <= len(lines) and (not lines[row - 1].strip() or lines[row - 1].lstrip().startswith("|")):
            cell = re.match(r"\s*\|\s*`([\w-]+)`\s*\|", lines[row - 1])
            if cell:
                listed.append(cell.group(1))
                if cell.group(1) not in presets:
                    problems.append(f"README.md:{row}: `{cell.group(1)}` is not a preset of {script}.py "
                                    f"(its presets: {', '.join(presets)})")
            if lines[row - 1].lstrip().startswith("|") and row < len(lines) and not lines[row].strip():
                break
            row += 1
        missing = [name for name in presets if name not in listed]
        if missing:
            problems.append(f"README.md:{number}: the table of {script}.py lacks its presets {', '.join(missing)}")
    assert tables == 3, f"README.md: expected the preset tables of the three training scripts, found {tables}"
    assert not problems, "\n".join(problems)


def test_readme_layout_lists_existing_files():
    """The README's Layout block names files that exist, and every script, experiment and benchmark (and every
    module of a package whose line does not end in "…")."""
    _, fences = markdown("README.md")
    block = next(((first, lines) for _, first, lines in fences if lines and lines[0].startswith("train_ptb.py")), None)
    assert block, "README.md: no Layout block (a fenced block starting with train_ptb.py)"
    first, lines = block
    problems, listed, folder, elided = [], set(), "", set()
    for number, line in enumerate(lines, start=first):
        head = re.match(r"([\w.-]+/)([\w.-]*)\s", line + " ")
        if head:
            folder = head.group(1)
        for name in re.findall(r"(?<![\w./-])([\w-]+\.(?:py|sh|js|html))\b", line):
            path = name if number == first else folder + name
            if path not in repo_files() and name in repo_files():
                path = name  # a script the description names (training/recipe.py: "... of train_ptb.py")
            listed.add(path)
            if path not in repo_files():
                problems.append(f"README.md:{number}: {path} (Layout) does not exist")
        if line.rstrip().endswith("…"):
            elided.add(folder)
    for path in code_files(".py", ".sh", ".js", ".html"):
        top = path.split("/")[0] + "/"
        if path.startswith("tests/") or path.endswith("__init__.py") or top in elided or path in listed:
            continue
        if "/" not in path or top in {f.split("/")[0] + "/" for f in listed if "/" in f}:
            problems.append(f"README.md:{first}: the Layout block does not list {path}")
    assert not problems, "\n".join(problems)
