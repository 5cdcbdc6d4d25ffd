#!/usr/bin/env python3
"""Draws the imports inside each casedesk crate and fails on a circle or an upward arrow.

Every crate's modules are placed in layers (LAYERS below, lowest first). A file may use
files of its own layer's module or of a lower layer; a circle between files, or an arrow
from a lower layer to a higher one, is reported and makes the exit status 1.

    python3 scripts/layers.py            # check every crate
    python3 scripts/layers.py --dot core # the drawing of one crate, in Graphviz's dot

Test modules (`#[cfg(test)] mod … { … }`) are left out: a test may reach anywhere.
"""
import os
import re
import sys

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "crates")

# Per crate: layers from the bottom up; each a list of module paths (a path covers the
# module and everything under it). A module not listed is an error, so a new module must
# say where it stands.
LAYERS = {
    "casedesk-core": [
        # the model: accounts, people, the case and its lifecycle, errors, time, and the
        # record every write carries (acts)
        ["lib", "error", "scope", "taxonomy", "accounts", "users", "acts", "permissions",
         "directory", "cases"],
        # the mechanisms every feature writes through: the job table (the outbox), the
        # address guard of outbound requests, the signed links sent by email
        ["jobs", "outbound", "links"],
        # the features: each stands on the model and the mechanisms, and on nothing beside
        # it except through a seam named in SEAMS
        ["audit", "identity", "admin", "sla", "mail", "attachments", "kb", "status", "webhooks",
         "diagnostics", "reports", "routes", "grants", "satisfaction", "trust"],
        # the orchestration: one case change across features in one transaction
        ["service"],
        # the sum of the features' stores
        ["store"],
    ],
    "casedesk-web": [
        # problem+json, security headers, request budgets, metrics: no handler state
        ["error", "headers", "limits", "metrics"],
        # what every handler can reach
        ["state"],
        # who is asking: the API's Caller, the pages' Viewer, sessions and cookies
        ["session"],
        # request reading and downloads both transports share
        ["requests"],
        # the two transports, neither importing the other
        ["api", "ui"],
        # sign-in pages (drawn with the UI's layout) and the API's description
        ["signin", "openapi"],
        # the listener and the router
        ["server", "lib"],
    ],
    "casedesk-jobs": [
        ["config"],
        # the one trait the runner knows handlers by, and the registry of them
        ["registry", "signing"],
        # the handlers
        ["grants", "mail", "sla", "status", "webhooks"],
        ["runner"],
        ["lib"],
    ],
    "casedesk-store": [
        # row mapping and SQL pieces both backends share
        ["common", "blobs"],
        # each feature's SQL, as a macro expanded once per backend
        ["ops", "mail", "kb", "status", "attachments", "reports", "support"],
        # one backend's store assembled from them
        ["backend"],
        # SQLite's writer thread (the backends' SQL constants, run through rusqlite)
        ["sqlite_writer"],
        # SQLite's hot reads, through rusqlite on blocking threads
        ["sqlite_reader"],
        ["sqlite", "postgres", "cache"],
        ["lib"],
    ],
    "casedesk-mail": [
        ["config", "outbound", "trim", "trust"],
        ["inbound"],
        ["mailer"],
        ["gate"],
        ["lib"],
    ],
    "casedesk-auth": [
        ["error", "net", "tokens", "sealing"],
        ["password", "oidc::config", "oidc::jwt", "oidc::keys"],
        ["oidc::mapping", "explain"],
        ["oidc"],
        ["oidc::login"],
        ["lib"],
    ],
    "casedesk-search": [["lib"]],
    "casedesk-testkit": [
        ["op", "s3", "smtp", "browser"],
        ["hooks"],
        ["lib"],
    ],
    "casedesk": [
        # configuration, and what every subcommand does around its work
        ["config"],
        ["shell"],
        # the subcommands
        ["demo", "kb", "mailgate", "ops", "sla"],
        ["cli"],
        ["main"],
    ],
}

# Modules of the same layer that must not import each other (the features of core).
ISOLATED_LAYERS = {"casedesk-core": [2], "casedesk-web": [4]}
# Named seams: the only imports allowed between features of one layer, each with its
# reason (ARCHITECTURE.md lists them too). Each entry is (from module, to module).
SEAMS = {
    "casedesk-core": {
        # A token is issued under identity's rules (the scope ceiling, the first manager).
        ("admin", "identity"),
        # An invited user is written with their invitation, in one transaction.
        ("identity", "mail"),
        ("admin", "mail"),
        # A file is scrubbed by the diagnostics' secret detector and HAR reader before it
        # is kept.
        ("attachments", "diagnostics"),
        # Endpoints may subscribe to the status page's incident events.
        ("webhooks", "status"),
        # "This fixed it" on a check before opening a case is a deflection, as the
        # knowledge base records it.
        ("routes", "kb"),
        # A Trust Center document's name and type are read the way an attachment's are.
        ("trust", "attachments"),
        # A status subscriber without an account is written with its confirmation message,
        # in one transaction.
        ("status", "mail"),
    },
}


def strip_tests(src):
    """Removes `#[cfg(test)]` modules, which may import from anywhere."""
    out = []
    i = 0
    pat = re.compile(r"#\[cfg\(test\)\]\s*(pub(\([^)]*\))?\s+)?mod\s+\w+\s*\{")
    while True:
        m = pat.search(src, i)
        if not m:
            out.append(src[i:])
            break
        out.append(src[i:m.start()])
        depth = 1
        j = m.end()
        while j < len(src) and depth:
            c = src[j]
            if c == "{":
                depth += 1
            elif c == "}":
                depth -= 1
            j += 1
        i = j
    return "".join(out)


def strip_comments(src):
    src = re.sub(r"/\*.*?\*/", "", src, flags=re.S)
    src = re.sub(r"//[^\n]*", "", src)
    # String literals could hold "crate::"; drop simple ones.
    src = re.sub(r'"(?:\\.|[^"\\])*"', '""', src)
    return src


def blank_macro_supers(src):
    """In a `macro_rules!` body, `super::` names the module the macro is expanded in, not
    this file's parent: such paths are not this file's imports."""
    out, i = [], 0
    for m in re.finditer(r"macro_rules!\s+\w+\s*\{", src):
        if m.start() < i:
            continue
        depth, j = 1, m.end()
        while j < len(src) and depth:
            depth += {"{": 1, "}": -1}.get(src[j], 0)
            j += 1
        out.append(src[i:m.end()])
        out.append(re.sub(r"\bsuper::", "expansion_site::", src[m.end():j]))
        i = j
    out.append(src[i:])
    return "".join(out)


def module_files(src_dir):
    """Maps module path ("cases::service") to its file, and back."""
    mods = {}
    for dirpath, _, files in os.walk(src_dir):
        for f in files:
            if not f.endswith(".rs"):
                continue
            full = os.path.join(dirpath, f)
            rel = os.path.relpath(full, src_dir)[:-3].split(os.sep)
            if rel[-1] == "mod":
                rel = rel[:-1]
            if rel in (["lib"], ["main"]):
                path = rel[0]
            else:
                path = "::".join(rel)
            mods[path] = full
    return mods


def expand_use(tree):
    """Expands a `use` tree like `a::{b, c::{d as e}}` into full paths."""
    tree = re.sub(r"\s+as\s+[A-Za-z_]\w*", "", tree)
    tree = re.sub(r"\s+", "", tree)

    def split_top(s):
        parts, depth, cur = [], 0, ""
        for ch in s:
            if ch == "{":
                depth += 1
            elif ch == "}":
                depth -= 1
            if ch == "," and depth == 0:
                parts.append(cur)
                cur = ""
            else:
                cur += ch
        if cur:
            parts.append(cur)
        return parts

    def rec(s):
        i = s.find("{")
        if i < 0:
            return [s]
        prefix = s[:i]
        inner = s[i + 1:s.rfind("}")]
        return [prefix + q for p in split_top(inner) for q in rec(p)]

    return rec(tree)


def item_defs(src):
    """Names defined or re-exported at the top of a file."""
    names = set(re.findall(
        r"\b(?:struct|enum|trait|type|fn|const|static|mod|union|macro_rules!)\s+([A-Za-z_]\w*)", src))
    return names


def reexports(src):
    """`pub use` paths of a file: name -> full path (relative syntax kept)."""
    out = {}
    for m in re.finditer(r"\bpub(?:\([^)]*\))?\s+use\s+([^;]+);", src):
        for p in expand_use(m.group(1)):
            out[p.split("::")[-1]] = p
    return out


def resolve(path_segs, mods):
    """The module file a `crate::`-relative path lands in."""
    best = None
    for k in range(len(path_segs), 0, -1):
        mp = "::".join(path_segs[:k])
        if mp in mods:
            best = mp
            break
    if best is None:
        return "lib" if "lib" in mods else "main"
    return best


def module_of_use(p, here_mod, mods=None):
    """Turns a `use` path into crate-relative segments, or None for another crate."""
    p = p[1:] if p.startswith("$crate") else p
    segs = [s for s in p.split("::") if s]
    if any(s.startswith("$") for s in segs):
        # A macro's metavariable: the path belongs to where the macro is expanded.
        return None
    if not segs:
        return None
    if segs[0] == "crate":
        return segs[1:]
    if segs[0] in ("super", "self"):
        base = here_mod.split("::") if here_mod not in ("lib", "main") else []
        while segs and segs[0] in ("super", "self"):
            if segs[0] == "super":
                base = base[:-1]
            segs = segs[1:]
        return base + segs
    if mods is not None:
        # 2018 paths: a name that is a child module of this one is relative to it.
        base = here_mod.split("::") if here_mod not in ("lib", "main") else []
        if "::".join(base + segs[:1]) in mods:
            return base + segs
    return None


def graph(crate):
    src_dir = os.path.join(ROOT, crate, "src")
    mods = module_files(src_dir)
    texts = {}
    for m, f in mods.items():
        with open(f, encoding="utf-8") as fh:
            texts[m] = blank_macro_supers(strip_comments(strip_tests(fh.read())))
    defs = {m: item_defs(t) for m, t in texts.items()}
    reex = {m: reexports(t) for m, t in texts.items()}

    def land(segs, depth=0):
        m = resolve(segs, mods)
        rest = segs[len(m.split("::")):] if m not in ("lib", "main") else segs
        if m in ("lib", "main") and segs and segs[0] in mods:
            m = segs[0]
            rest = segs[1:]
        if rest and depth < 8:
            name = rest[0]
            if name not in defs[m] and name in reex[m]:
                target = module_of_use(reex[m][name], m, mods)
                if target is not None:
                    return land(target + rest[1:], depth + 1)
        return m

    # `#[macro_export]` macros live at the crate root but are written in their own file.
    macros = {}
    for m, t in texts.items():
        for name in re.findall(r"macro_rules!\s+(\w+)", t):
            macros[name] = m

    edges = {}
    for m, t in texts.items():
        outs = set()
        for u in re.finditer(r"\buse\s+([^;]+);", t):
            for p in expand_use(u.group(1)):
                segs = module_of_use(p, m, mods)
                if segs is None:
                    continue
                segs = [s for s in segs if s not in ("*", "self")]
                if not segs:
                    continue
                outs.add(land(segs))
        bare = re.sub(r"\buse\s+[^;]+;", "", t)
        for u in re.finditer(r"\$?\b(crate|super)((?:::[A-Za-z_]\w*)+)(!?)", bare):
            name = u.group(2).split("::")[-1]
            if u.group(3) and name in macros:
                outs.add(macros[name])
                continue
            segs = module_of_use(u.group(1) + u.group(2), m)
            if segs:
                outs.add(land(segs))
        # A parent declares and re-exports its children: that is structure, not an import;
        # a parent that uses a child's items (`child::item`) does import it.
        outs = {o for o in outs if o != m}
        prefix = "" if m in ("lib", "main") else m + "::"
        children = {c for c in mods if c.startswith(prefix) and "::" not in c[len(prefix):]
                    and c not in ("lib", "main")}
        for c in children:
            if used_beyond_decl(t, c):
                outs.add(c)
        edges[m] = outs - {c for c in children if c in outs and not used_beyond_decl(t, c)}
    return mods, edges


def used_beyond_decl(text, child):
    """True when a parent uses a child's items, not merely declares or re-exports it."""
    name = child.split("::")[-1]
    body = re.sub(r"\b(pub(\([^)]*\))?\s+)?mod\s+\w+\s*;", "", text)
    body = re.sub(r"\bpub(\([^)]*\))?\s+use\s+[^;]+;", "", body)
    return re.search(r"(?<![:\w])" + re.escape(name) + r"::", body) is not None


def layer_of(crate, m):
    best, best_len = None, -1
    for i, layer in enumerate(LAYERS[crate]):
        for p in layer:
            if (m == p or m.startswith(p + "::")) and len(p) > best_len:
                best, best_len = (i, p), len(p)
    return best


def sccs(edges):
    index, low, stack, on, out = {}, {}, [], set(), []
    counter = [0]

    def strong(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in edges.get(v, ()):
            if w not in index:
                strong(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    sys.setrecursionlimit(10000)
    for v in list(edges):
        if v not in index:
            strong(v)
    return out


def check(crate):
    mods, edges = graph(crate)
    problems = []
    for comp in sccs(edges):
        problems.append("circle: " + " -> ".join(comp))
    isolated = ISOLATED_LAYERS.get(crate, [])
    seams = SEAMS.get(crate, set())
    for m in sorted(edges):
        lm = layer_of(crate, m)
        if lm is None:
            problems.append(f"{m}: not placed in a layer (scripts/layers.py)")
            continue
        for t in sorted(edges[m]):
            lt = layer_of(crate, t)
            if lt is None:
                continue
            if lt[0] > lm[0]:
                problems.append(f"up: {m} (layer {lm[0]}) imports {t} (layer {lt[0]})")
            elif lt[0] == lm[0] and lm[0] in isolated and lt[1] != lm[1] \
                    and (lm[1], lt[1]) not in seams:
                problems.append(f"beside: {m} imports {t}, a feature of its own layer")
    return mods, edges, problems


def main(argv):
    if len(argv) >= 3 and argv[1] == "--dot":
        crate = argv[2] if argv[2].startswith("casedesk") else "casedesk-" + argv[2]
        _, edges, _ = check(crate)
        print(f'digraph "{crate}" {{ rankdir=BT; node [shape=box];')
        for m in sorted(edges):
            for t in sorted(edges[m]):
                print(f'  "{m}" -> "{t}";')
        print("}")
        return 0
    crates = argv[1:] or sorted(LAYERS)
    unplaced = sorted(set(os.listdir(ROOT)) - set(LAYERS))
    if not argv[1:] and unplaced:
        print("crates without layers in scripts/layers.py: " + ", ".join(unplaced))
        return 1
    failed = False
    for crate in crates:
        _, edges, problems = check(crate)
        n = sum(len(v) for v in edges.values())
        if problems:
            failed = True
            print(f"{crate}: {len(edges)} modules, {n} imports, {len(problems)} problems")
            for p in problems:
                print("  " + p)
        else:
            print(f"{crate}: {len(edges)} modules, {n} imports, no circle, none upward")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
