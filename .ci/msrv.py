#!/usr/bin/env python3
"""MSRV check without a second toolchain (the machine has one, and no other can be fetched).

1. Every package a publishable crate depends on (normal and build dependencies, the whole
   graph, as resolved by Cargo.lock) declares a `rust-version` no newer than ours.
2. Our own code's use of the standard library is checked against `rust-version` by clippy's
   `incompatible_msrv` lint (in `clippy::all`, denied by .ci/run's clippy step).

Exits 1 and lists the offenders if (1) fails.
"""
import json
import subprocess
import sys


def version(text):
    return tuple(int(x) for x in text.split(".")[:2])


meta = json.loads(
    subprocess.run(
        ["cargo", "metadata", "--format-version", "1", "--locked"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
)
packages = {p["id"]: p for p in meta["packages"]}
members = [packages[i] for i in meta["workspace_members"]]
ours = {version(p["rust_version"]) for p in members if p.get("rust_version")}
if len(ours) != 1:
    sys.exit(f"workspace members disagree on rust-version: {ours}")
msrv = ours.pop()
nodes = {n["id"]: n for n in meta["resolve"]["nodes"]}

roots = [p["id"] for p in members if p.get("publish") != []]
seen, stack = set(), list(roots)
while stack:
    node = nodes[stack.pop()]
    for dep in node["deps"]:
        kinds = {k["kind"] for k in dep["dep_kinds"]}
        if kinds & {None, "build"} and dep["pkg"] not in seen:
            seen.add(dep["pkg"])
            stack.append(dep["pkg"])

too_new = sorted(
    f'{packages[i]["name"]} {packages[i]["version"]} needs {packages[i]["rust_version"]}'
    for i in seen
    if packages[i].get("rust_version") and version(packages[i]["rust_version"]) > msrv
)
print(f"MSRV {msrv[0]}.{msrv[1]}: {len(seen)} dependencies of {len(roots)} publishable crates checked")
if too_new:
    print("dependencies newer than our rust-version:\n  " + "\n  ".join(too_new))
    sys.exit(1)
