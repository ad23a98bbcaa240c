#!/usr/bin/env python3
"""Helpers of tests/hosts/run.

  hostlib.py modules MODDIR DEST NAME...   copies NAME and its dependencies (decompressed) into
                                           DEST as NAME.ko; prints the load order
  hostlib.py test-executables              reads cargo's JSON messages on stdin, prints the
                                           integration test executables
  hostlib.py report LOGS HOST...           prints one line per host and the total; exit 1 when
                                           anything failed
  hostlib.py report-host LOGS HOST         the lines of one host (no total)
"""

import glob
import json
import lzma
import os
import re
import sys


# --- modules ----------------------------------------------------------------------------------

def read_module(path):
    with open(path, "rb") as f:
        data = f.read()
    if path.endswith(".xz"):
        data = lzma.decompress(data)
    elif path.endswith(".zst"):
        import subprocess
        data = subprocess.run(["zstd", "-dc", path], check=True, capture_output=True).stdout
    return data


def norm(name):
    return name.replace("-", "_")


def modules(moddir, dest, wanted):
    files = {}
    for top, _dirs, names in os.walk(moddir):
        for n in names:
            m = re.match(r"(.+)\.ko(\.xz|\.zst)?$", n)
            if m:
                files[norm(m.group(1))] = os.path.join(top, n)
    builtin = set()
    bpath = os.path.join(moddir, "modules.builtin")
    if os.path.exists(bpath):
        with open(bpath) as f:
            for line in f:
                builtin.add(norm(os.path.basename(line.strip())[: -len(".ko")]))
    order, seen = [], set()

    def visit(name):
        name = norm(name)
        if name in seen:
            return
        seen.add(name)
        if name not in files:
            if name in builtin:
                return
            if not os.path.exists(bpath):
                # Packages without modules.builtin (7.x): taken as built in; the guest's
                # mount fails, naming it, if it is not.
                print(f"module {name}: not in {moddir}, taken as built in", file=sys.stderr)
                return
            sys.exit(f"module {name} is neither in {moddir} nor built in")
        data = read_module(files[name])
        m = re.search(rb"(?:^|\0)depends=([^\0]*)\0", data)
        for dep in (m.group(1).decode().split(",") if m else []):
            if dep:
                visit(dep)
        with open(os.path.join(dest, name + ".ko"), "wb") as f:
            f.write(data)
        order.append(name)

    for w in wanted:
        visit(w)
    print("\n".join(order))


# --- cargo ------------------------------------------------------------------------------------

def test_executables():
    for line in sys.stdin:
        try:
            m = json.loads(line)
        except ValueError:
            continue
        if (m.get("reason") == "compiler-artifact" and m.get("executable")
                and m["target"]["kind"] == ["test"]):
            print(m["executable"])


# --- report -----------------------------------------------------------------------------------

RESULT = re.compile(r"^test (\S+) \.\.\. (ok|FAILED|ignored)\b")
SECTION = re.compile(r"^---- (\S+) stdout ----$")

# What the CLI's main job prints in a working sandbox.
MAIN_JOB_OUTPUT = "['bin', 'dev', 'etc', 'home', 'lib', 'lib64', 'proc', 'sbin', 'tmp', 'usr']"
# Where the default policy is refused by design: the word the error must name.
REFUSAL = {"no-landlock": "Landlock", "no-userns": "user namespace"}


def parse_libtest(text):
    """(results {name: ok|FAILED|ignored}, sections {name: [lines]}, finished)"""
    results, sections, cur = {}, {}, None
    for line in text.splitlines():
        m = RESULT.match(line)
        if m:
            results[m.group(1)] = m.group(2)
            continue
        m = SECTION.match(line)
        if m:
            cur = m.group(1)
            sections.setdefault(cur, [])
            continue
        if line in ("successes:", "failures:") or line.startswith("test result:"):
            cur = None
            continue
        if cur is not None:
            sections[cur].append(line)
    return results, sections, "test result:" in text


def read(path, default=""):
    try:
        with open(path, errors="replace") as f:
            return f.read()
    except OSError:
        return default


def pass_report(host, pdir):
    """Counts and details of one pass (one user) of a guest."""
    rep = {"passed": 0, "failed": 0, "skipped": 0, "failures": [], "skips": []}
    # The probe.
    if read(os.path.join(pdir, "probe.rc")).strip() == "0":
        rep["passed"] += 1
    else:
        rep["failed"] += 1
        rep["failures"].append(("probe", read(os.path.join(pdir, "probe.log"))[-2000:]))
    rep["probe"] = read(os.path.join(pdir, "probe.log")).strip()
    # The main job.
    rc = read(os.path.join(pdir, "mainjob.rc")).strip()
    out = read(os.path.join(pdir, "mainjob.out")).strip()
    err = read(os.path.join(pdir, "mainjob.err")).strip()
    refusal = REFUSAL.get(host)
    if host == "container":
        # A container's seccomp profile may refuse user namespaces; its masked /proc makes
        # the kernel refuse a fresh procfs.
        refusal = next((w for w in ("user namespace", "proc mount") if w in err), None)
    if rc == "0" and out == MAIN_JOB_OUTPUT:
        rep["passed"] += 1
        rep["mainjob"] = "ok"
    elif refusal and rc == "125" and refusal in err:
        rep["passed"] += 1
        rep["mainjob"] = "refused: " + err.splitlines()[-1][:160]
    else:
        rep["failed"] += 1
        rep["mainjob"] = f"FAILED (status {rc or '?'})"
        rep["failures"].append(("main job", f"status {rc}\nstdout: {out}\nstderr: {err}"))
    # The main job with every property best effort: runs everywhere, on what the host has.
    rc = read(os.path.join(pdir, "fallback.rc")).strip()
    if rc:
        out = read(os.path.join(pdir, "fallback.out")).strip()
        err = read(os.path.join(pdir, "fallback.err")).strip()
        layers = ""
        try:
            st = json.loads(read(os.path.join(pdir, "fallback.json")))
            layers = "; ".join(
                f"{p['property']}: {'+'.join(p['layers']) or 'none'}"
                for p in st["enforcement"]["properties"])
        except (ValueError, KeyError, TypeError):
            pass
        if rc == "0" and out == "usr":
            rep["passed"] += 1
            rep["fallback"] = "ok" + (f" ({layers})" if layers else "")
        else:
            rep["failed"] += 1
            rep["fallback"] = f"FAILED (status {rc})"
            rep["failures"].append(("main job, best effort", f"status {rc}\nstdout: {out}\nstderr: {err}"))
    # Sandbox cgroups a command left behind (cgroup2: each command runs in a cgroup of its
    # own, checked when it has ended).
    for left in sorted(glob.glob(os.path.join(pdir, "*.cgroups-left"))
                       + glob.glob(os.path.join(pdir, "tests", "*.cgroups-left"))):
        what = os.path.basename(left)[: -len(".cgroups-left")]
        rep["failed"] += 1
        rep["failures"].append((f"{what}: sandbox cgroups left behind", read(left)[-2000:]))
    # The test binaries.
    tdir = os.path.join(pdir, "tests")
    for name in sorted(os.listdir(tdir)) if os.path.isdir(tdir) else []:
        if not name.endswith(".log"):
            continue
        binary = name[: -len(".log")]
        text = read(os.path.join(tdir, name))
        brc = read(os.path.join(tdir, binary + ".rc")).strip()
        results, sections, finished = parse_libtest(text)
        for test, res in sorted(results.items()):
            full = f"{binary}::{test}"
            lines = sections.get(test, [])
            if res == "FAILED":
                rep["failed"] += 1
                rep["failures"].append((full, "\n".join(lines).strip()[-3000:]))
            elif res == "ignored":
                rep["skipped"] += 1
                rep["skips"].append((full, "ignored"))
            else:
                why = [l.split("SKIPPED:", 1)[1].strip() for l in lines if "SKIPPED:" in l]
                if why:
                    rep["skipped"] += 1
                    rep["skips"].append((full, "; ".join(why)))
                else:
                    rep["passed"] += 1
        if not finished:
            rep["failed"] += 1
            tail = "\n".join(text.splitlines()[-30:])
            what = "timed out" if brc in ("124", "137") else f"ended with status {brc or '?'}"
            rep["failures"].append((f"{binary} ({what} before its summary)", tail))
    return rep


def report(logs, hosts, total=True):
    total_p = total_f = 0
    for host in hosts:
        hdir = os.path.join(logs, host)
        kernel = read(os.path.join(hdir, "kernel")).strip() or "?"
        passes = [p for p in read(os.path.join(hdir, "passes")).split() if p]
        summary = {"host": host, "kernel": kernel, "passes": {},
                   "wall_seconds": read(os.path.join(hdir, "wall_seconds")).strip()}
        p = f = s = 0
        problems = []
        if not passes or not os.path.exists(os.path.join(hdir, "done")):
            f += 1
            tail = "\n".join(read(os.path.join(hdir, "console.log")).splitlines()[-20:])
            problems.append(("guest", "the guest did not finish its passes:\n" + tail))
        for pname in passes:
            rep = pass_report(host, os.path.join(hdir, pname))
            summary["passes"][pname] = rep
            p, f, s = p + rep["passed"], f + rep["failed"], s + rep["skipped"]
            problems += [(f"[{pname}] {n}", d) for n, d in rep["failures"]]
        summary["problems"] = problems
        with open(os.path.join(hdir, "summary.json"), "w") as out:
            json.dump(summary, out, indent=1)
        with open(os.path.join(hdir, "failures.txt"), "w") as out:
            for n, d in problems:
                out.write(f"=== {n}\n{d}\n\n")
        print(f"{host} {kernel}: {p} passed, {f} failed, {s} skipped")
        print(f"  wall time {summary['wall_seconds'] or '?'} s; "
              f"kernel command line: {read(os.path.join(hdir, 'cmdline')).strip()}")
        for pname, rep in summary["passes"].items():
            print(f"  {pname}: {rep['passed']} passed, {rep['failed']} failed, "
                  f"{rep['skipped']} skipped; main job {rep['mainjob']}; "
                  f"best effort {rep.get('fallback', 'not run')}")
        for n, _ in problems:
            print(f"  FAILED {n}")
        total_p, total_f = total_p + p, total_f + f
    if total:
        print(f"{total_p} passed, {total_f} failed")
    return 1 if total_f else 0


def main():
    cmd = sys.argv[1] if len(sys.argv) > 1 else ""
    if cmd == "modules":
        modules(sys.argv[2], sys.argv[3], sys.argv[4:])
    elif cmd == "test-executables":
        test_executables()
    elif cmd == "report":
        sys.exit(report(sys.argv[2], sys.argv[3:]))
    elif cmd == "report-host":
        report(sys.argv[2], sys.argv[3:], total=False)
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
