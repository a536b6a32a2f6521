#!/usr/bin/env python3
"""The house rules that a grep can check, over src/: no import circles between files, no file of
non-test code over 400 lines, and each outside dependency only in the modules that own it
(children are started only by `process`).

Nodes are files; an edge is any `crate::…`, `super::…` or `self::…` path in non-test code,
resolved to the deepest module file it names. A file's edges to its own ancestors (a child using
what its parent module shares, such as `super::AppState`) are left out: arrows point inward.
A parent composing its children counts. Exit 1 on a violation, printing each one.
"""
import pathlib
import re
import sys

SRC = pathlib.Path(__file__).resolve().parent.parent / "src"
MAX_LINES = 400
OWNERS = {
    r"\bstd::env\b": ("config",),
    r"\brusqlite\b": ("catalog",),
    r"\btokio_postgres\b": ("catalog",),
    r"\bdeadpool_postgres\b": ("catalog",),
    r"\btokio::process\b": ("process",),
    r"\bstd::process::Command\b": ("process",),
    r"\bactix_web\b": ("api", "startup", "error"),
}


def module_of(path):
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    if parts[-1] in ("mod", "lib", "main"):
        parts = parts[:-1]
    return tuple(parts)


def without_tests(text):
    """Drops `#[cfg(test)] mod name { … }` blocks and `#[cfg(test)] mod name;` lines."""
    out, i = [], 0
    pattern = re.compile(r"#\[cfg\(test\)\]\s*(pub(\(\w+\))?\s+)?mod\s+\w+\s*([{;])")
    while True:
        m = pattern.search(text, i)
        if not m:
            out.append(text[i:])
            return "".join(out)
        out.append(text[i:m.start()])
        if m.group(3) == ";":
            i = m.end()
            continue
        depth, j = 1, m.end()
        while depth and j < len(text):
            depth += {"{": 1, "}": -1}.get(text[j], 0)
            j += 1
        i = j


def strip_comments(text):
    text = re.sub(r"//[^\n]*", "", text)
    return re.sub(r'"(\\.|[^"\\])*"', '""', text)


def expand_use_groups(text):
    """`crate::a::{b, c::d}` → `crate::a::b crate::a::c::d` (one level of braces)."""
    def repl(m):
        base, inner = m.group(1), m.group(2)
        items = [p.strip() for p in inner.split(",") if p.strip()]
        return " ".join(f"{base}::{p}" for p in items if p != "self") + f" {base}"
    for _ in range(3):
        text = re.sub(r"((?:crate|super|self)(?:::\w+)*)::\{([^{}]*)\}", repl, text)
    return text


def main():
    files = {module_of(p): p for p in SRC.rglob("*.rs")}
    test_only = set()
    for module, path in files.items():
        for name in re.findall(r"#\[cfg\(test\)\]\s*mod\s+(\w+)\s*;", path.read_text()):
            test_only.add(module + (name,))
    files = {m: p for m, p in files.items() if m not in test_only}
    problems, edges = [], {}
    for module, path in files.items():
        raw = path.read_text()
        code = strip_comments(without_tests(raw))
        if len([l for l in code.splitlines() if l.strip()]) > MAX_LINES:
            problems.append(f"{path.relative_to(SRC)}: over {MAX_LINES} lines of non-test code")
        for pattern, owners in OWNERS.items():
            if re.search(pattern, code) and (not module or module[0] not in owners):
                problems.append(f"{path.relative_to(SRC)}: uses {pattern} outside {owners}")
        targets = set()
        for m in re.finditer(r"\b((?:crate|super|self)(?:::(?:super|\w+))+)", expand_use_groups(code)):
            parts = m.group(1).split("::")
            if parts[0] == "crate":
                base, rest = (), parts[1:]
            else:
                base = list(module)
                rest = parts
                while rest and rest[0] in ("super", "self"):
                    if rest[0] == "super":
                        base = base[:-1]
                    rest = rest[1:]
                base = tuple(base)
            target = base
            for part in rest:
                if target + (part,) in files:
                    target = target + (part,)
                else:
                    break
            if target in files and target != module:
                is_ancestor = module[: len(target)] == target
                if not is_ancestor:
                    targets.add(target)
        for child in re.findall(r"^\s*(?:pub(?:\([\w:]+\))?\s+)?mod\s+(\w+)\s*;", code, re.M):
            if module + (child,) in files:
                targets.add(module + (child,))
        edges[module] = targets
    for cycle in cycles(edges):
        names = " → ".join(str(files[m].relative_to(SRC)) for m in cycle)
        problems.append(f"import circle: {names}")
    for problem in problems:
        print(problem)
    print(f"structure: {len(files)} files, {len(problems)} problems")
    return 1 if problems else 0


def cycles(edges):
    """One cycle per strongly connected component of more than one file (Tarjan)."""
    index, low, stack, on, found, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in edges.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    sys.setrecursionlimit(10000)
    for v in list(edges):
        if v not in index:
            visit(v)
    return found


if __name__ == "__main__":
    sys.exit(main())
