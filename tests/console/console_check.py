#!/usr/bin/env python3
"""Static checks of the web console (console/), run as the unit test console_check (no browser;
tests/e2e/test_console.py drives the console in Chromium):

- no HTML sink in the JavaScript (innerHTML, outerHTML, insertAdjacentHTML, document.write),
  no code from strings (eval, new Function, string timers), no inline style attribute: every
  value from the API goes into the page as text, and the strict Content-Security-Policy the bridge
  sends (script-src 'self', style-src 'self') holds;
- index.html has no inline script, style or event handler, and every file it names exists;
- every relative import resolves to a file of console/;
- the strings: each key of an addStrings table has both an English and a Chinese text, and every
  literal key passed to t() is in the tables.

Exit 0 when all hold; else 1, printing every finding as FILE:LINE: what."""
import os
import re
import sys

ROOT = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..", "..",
                                                          "console")
ROOT = os.path.abspath(ROOT)
findings = []

SINKS = [
    (re.compile(r"\.(innerHTML|outerHTML)\b"), "an HTML sink (build the DOM with h())"),
    (re.compile(r"\binsertAdjacentHTML\b"), "an HTML sink (build the DOM with h())"),
    (re.compile(r"\bdocument\.write(ln)?\b"), "document.write"),
    (re.compile(r"(?<![\w.])eval\s*\("), "eval"),
    (re.compile(r"\bnew\s+Function\b"), "code from a string"),
    (re.compile(r"\bset(Timeout|Interval)\s*\(\s*['\"`]"), "code from a string"),
    (re.compile(r"setAttribute\(\s*['\"]style['\"]"), "an inline style (the CSP refuses it)"),
    (re.compile(r"(?<![\w-])['\"]?style['\"]?\s*:\s*['\"`]"), "an inline style (the CSP refuses it)"),
    (re.compile(r"\bcreateContextualFragment\b|\bDOMParser\b"), "an HTML parser"),
]


def rel(p):
    return os.path.relpath(p, ROOT)


def find(path, line, what):
    findings.append(f"console/{rel(path)}:{line}: {what}")


def check_js(path, text, tables, used):
    for n, line in enumerate(text.splitlines(), 1):
        code = line.split("//")[0] if not line.lstrip().startswith("*") else ""
        for rx, what in SINKS:
            if rx.search(code):
                find(path, n, what)
    for m in re.finditer(r"^\s*import\s+(?:[^'\"]*?from\s+)?['\"](\.[^'\"]+)['\"]", text, re.M):
        target = os.path.normpath(os.path.join(os.path.dirname(path), m.group(1)))
        if not os.path.isfile(target):
            find(path, text[:m.start()].count("\n") + 1, f"import of a missing file {m.group(1)}")
    # addStrings({en: {...}, zh: {...}}): the keys of each language block.
    for m in re.finditer(r"addStrings\(\{", text):
        start = m.end() - 1
        depth, i = 0, start
        while i < len(text):
            c = text[i]
            if c in "'\"`":
                q, i = c, i + 1
                while i < len(text) and text[i] != q:
                    i += 2 if text[i] == "\\" else 1
            elif c == "{":
                depth += 1
            elif c == "}":
                depth -= 1
                if depth == 0:
                    break
            i += 1
        block = text[start:i + 1]
        line0 = text[:start].count("\n") + 1
        for lang in ("en", "zh"):
            lm = re.search(r"\b" + lang + r"\s*:\s*\{", block)
            if not lm:
                find(path, line0, f"an addStrings table without {lang}")
                continue
            body = block[lm.end():]
            d, j = 1, 0
            while j < len(body) and d:
                if body[j] == "{":
                    d += 1
                elif body[j] == "}":
                    d -= 1
                j += 1
            for km in re.finditer(r"^\s*['\"]([\w.-]+)['\"]\s*:", body[:j], re.M):
                tables[lang].setdefault(km.group(1), f"console/{rel(path)}")
    code = re.sub(r"^\s*(//|\*|/\*).*$", "", text, flags=re.M)  # comments name keys as examples
    for m in re.finditer(r"(?<![\w.])t\(\s*['\"]([\w.-]+)['\"]", code):
        used.setdefault(m.group(1), (path, code[:m.start()].count("\n") + 1))


def check_html(path, text):
    for n, line in enumerate(text.splitlines(), 1):
        if re.search(r"<script(?![^>]*\bsrc=)[^>]*>", line):
            find(path, n, "an inline script (the CSP refuses it)")
        if re.search(r"<style\b|\sstyle\s*=", line):
            find(path, n, "an inline style (the CSP refuses it)")
        if re.search(r"\son[a-z]+\s*=", line):
            find(path, n, "an inline event handler (the CSP refuses it)")
        for m in re.finditer(r"\b(?:src|href)=\"([^\"#:]+)\"", line):
            if not os.path.isfile(os.path.join(os.path.dirname(path), m.group(1))):
                find(path, n, f"a missing file {m.group(1)}")


def main():
    if not os.path.isfile(os.path.join(ROOT, "index.html")):
        print(f"console_check: no index.html in {ROOT}")
        return 1
    tables, used = {"en": {}, "zh": {}}, {}
    for dirpath, _, files in os.walk(ROOT):
        for name in sorted(files):
            path = os.path.join(dirpath, name)
            with open(path, encoding="utf-8", errors="replace") as f:
                text = f.read()
            if name.endswith(".js"):
                check_js(path, text, tables, used)
            elif name.endswith(".html"):
                check_html(path, text)
    for a, b in (("en", "zh"), ("zh", "en")):
        for key, where in sorted(tables[a].items()):
            if key not in tables[b]:
                findings.append(f"{where}: string {key} has no {b} text")
    for key, (path, line) in sorted(used.items()):
        if key not in tables["en"] and key not in tables["zh"]:
            find(path, line, f"t('{key}') names no string")
    for f in findings:
        print(f)
    print(f"console_check: {len(tables['en'])} strings, {len(used)} literal keys used, "
          f"{len(findings)} findings")
    return 1 if findings else 0


sys.exit(main())
