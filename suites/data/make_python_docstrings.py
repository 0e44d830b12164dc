"""Rebuild suites/data/python_docstrings.jsonl: the first paragraph of docstrings of public functions, classes and
methods of pure-Python standard-library modules (CPython 3.11.7, PSF licence), whitespace collapsed, ASCII, 80-400 chars."""
import importlib
import inspect
import json
import re
import sys

MODULES = ["argparse", "bisect", "calendar", "collections", "csv", "datetime", "difflib", "fractions", "functools",
           "glob", "heapq", "json", "os", "pathlib", "random", "shutil", "statistics", "string", "tempfile", "textwrap",
           "urllib.parse", "zipfile", "tarfile", "email.utils", "http.cookies", "logging", "configparser", "pprint", "shlex", "fnmatch"]
out, seen = [], set()
for name in MODULES:
    mod = importlib.import_module(name)
    for attr, obj in sorted(vars(mod).items()):
        if attr.startswith("_") or getattr(obj, "__module__", None) != mod.__name__:
            continue
        items = [(attr, obj)]
        if inspect.isclass(obj):
            items += [(f"{attr}.{a}", o) for a, o in sorted(vars(obj).items()) if not a.startswith("_") and callable(o)]
        for qual, o in items:
            doc = inspect.getdoc(o)
            if not doc:
                continue
            text = re.sub(r"\s+", " ", doc.split("\n\n")[0]).strip()
            if 80 <= len(text) <= 400 and text not in seen and text.isascii():
                seen.add(text)
                out.append({"text": text, "source": f"{name}.{qual}"})
print(len(out), sys.version.split()[0], file=sys.stderr)
with open(__import__("pathlib").Path(__file__).with_name("python_docstrings.jsonl"), "w") as f:
    for row in out:
        f.write(json.dumps(row) + "\n")
