#!/usr/bin/env python3
"""The Kubernetes REST API against the controller's own gRPC API (driven by bench/api/run-api-bench.sh).

  api_bench.py setup  --count 10000 --namespaces 4       # VirtualDiskSnapshots via `berth apply -f`
  api_bench.py list   --runs 5                           # kubectl (REST) vs berth (gRPC) lists
  api_bench.py watch  --mode rest|grpc --watchers 100 --writes 200 --interval-ms 20
  api_bench.py writer ...                                # (internal) the label patches of `watch`

Common flags: --dir (the local cluster's directory), --kube-url, --berth (the CLI). Progress goes
to stderr, a markdown section to stdout. Only the Python standard library: the REST watchers are
raw TLS sockets (chunked HTTP/1.1) on one selector loop, the writer is a separate process so
that the watchers' loop never delays its timestamps (both use CLOCK_MONOTONIC).
"""
import argparse
import http.client
import json
import os
import re
import resource
import selectors
import shutil
import socket
import ssl
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse

GROUP = "virtualization.deckhouse.io/v1alpha2"
PLURAL = "virtualdisksnapshots"
LABEL = "bench-seq"
CLK_TCK = os.sysconf("SC_CLK_TCK")


def log(*a):
    print("api-bench:", *a, file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------------------------
# Cluster access

class Cluster:
    def __init__(self, args):
        self.dir = args.dir
        self.berth = args.berth
        self.kubectl = args.kubectl
        u = urllib.parse.urlparse(args.kube_url)
        self.host, self.port = u.hostname, u.port
        certs = os.path.join(self.dir, "certs", "admin")
        self.ctx = ssl.create_default_context(cafile=os.path.join(certs, "ca.crt"))
        self.ctx.load_cert_chain(os.path.join(certs, "tls.crt"), os.path.join(certs, "tls.key"))
        self.ctx.check_hostname = False
        self.env = dict(os.environ, BERTH_SERVER=args.grpc_server, BERTH_TLS_DIR=certs,
                        KUBECONFIG=os.path.join(self.dir, "kubeconfig"))
        with open(os.path.join(self.dir, "run", "controller.pid")) as f:
            self.pid = int(f.read())

    def server_cpu(self):
        """The controller's user+system CPU-seconds so far (/proc/PID/stat, all threads)."""
        with open(f"/proc/{self.pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLK_TCK

    def conn(self):
        return http.client.HTTPSConnection(self.host, self.port, context=self.ctx, timeout=60)

    def request(self, method, path, body=None, ctype=None, accept="application/json", conn=None):
        c = conn or self.conn()
        headers = {"Accept": accept}
        if ctype:
            headers["Content-Type"] = ctype
        c.request(method, path, body=body, headers=headers)
        r = c.getresponse()
        data = r.read()
        if conn is None:
            c.close()
        if r.status >= 300:
            raise RuntimeError(f"{method} {path}: {r.status} {data[:300]!r}")
        return data


def ns_path(ns):
    return f"/apis/{GROUP}/namespaces/{ns}/{PLURAL}"


def obj_name(ns_index, k, namespaces):
    return f"snap-{ns_index + k * namespaces:05d}"


def pct(xs, p):
    if not xs:
        return float("nan")
    xs = sorted(xs)
    return xs[min(len(xs) - 1, max(0, int(round(p / 100.0 * len(xs) + 0.5)) - 1))]


# ---------------------------------------------------------------------------------------------
# setup

def cmd_setup(args):
    cl = Cluster(args)
    tmp = tempfile.mkdtemp(prefix="berth-api-bench.")
    files = []
    for n in range(args.namespaces):
        # `berth apply` takes at most 5000 objects: one file per namespace and at most 5000 each.
        idx = list(range(n, args.count, args.namespaces))
        for part in range(0, len(idx), 5000):
            path = os.path.join(tmp, f"bench-{n}-{part}.yaml")
            with open(path, "w") as f:
                for i in idx[part:part + 5000]:
                    f.write(f"---\napiVersion: {GROUP}\nkind: VirtualDiskSnapshot\nmetadata:\n"
                            f"  name: snap-{i:05d}\n  namespace: bench-{n}\nspec:\n"
                            f"  requiredConsistency: false\n  virtualDiskName: missing-disk\n")
            files.append(path)
    cpu0, t0 = cl.server_cpu(), time.monotonic()
    procs = [subprocess.Popen([cl.berth, "apply", "-f", p], env=cl.env, stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE) for p in files]
    for p, path in zip(procs, files):
        _, err = p.communicate()
        if p.returncode != 0:
            sys.exit(f"api-bench: berth apply -f {path}: {err.decode()[-500:]}")
    applied = time.monotonic() - t0
    # Settled: every snapshot has its status (phase Pending) and the resourceVersion stands still.
    last_rv, still_since = None, None
    while True:
        pending, rv = 0, 0
        for n in range(args.namespaces):
            d = json.loads(cl.request("GET", ns_path(f"bench-{n}")))
            rv = max(rv, int(d["metadata"]["resourceVersion"]))
            pending += sum(1 for o in d["items"] if o.get("status", {}).get("phase") == "Pending")
        now = time.monotonic()
        if pending >= args.count and rv == last_rv:
            if now - still_since >= 2:
                break
        else:
            still_since = now
        last_rv = rv
        if now - t0 > 600:
            sys.exit(f"api-bench: setup did not settle ({pending} Pending of {args.count})")
        time.sleep(0.5)
    settled = still_since - t0
    cpu = cl.server_cpu() - cpu0
    shutil.rmtree(tmp)
    # The steady state: every Pending snapshot polls for its disk (kPendingPoll).
    c0, w0 = cl.server_cpu(), time.monotonic()
    time.sleep(5)
    idle = (cl.server_cpu() - c0) / (time.monotonic() - w0)
    log(f"setup: {args.count} created in {applied:.1f}s, settled at {settled:.1f}s, idle {idle:.2f} CPU")
    print(f"### Setup\n\n{args.count} VirtualDiskSnapshots (a missing disk: they stay `Pending`) in "
          f"{args.namespaces} namespaces, {len(files)} `berth apply -f` in parallel: created in "
          f"**{applied:.1f} s** ({args.count / applied:.0f}/s), every status written and the "
          f"resourceVersion still at {settled:.1f} s; controller CPU {cpu:.1f} s. Afterwards the idle "
          f"controller burns **{idle:.2f} CPU** (the {args.count} Pending snapshots re-reconcile "
          f"every 2 s, read-only).\n")
    with open(os.path.join(cl.dir, "bench-idle-cpu"), "w") as f:
        f.write(f"{idle}\n")


# ---------------------------------------------------------------------------------------------
# list

def run_client(cl, argv, shell=False):
    """Runs one list client; returns (wall s, client CPU s, server CPU s, stdout lines, ok, err)."""
    ru0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    s0, t0 = cl.server_cpu(), time.monotonic()
    p = subprocess.run(argv, env=cl.env, shell=shell, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, executable="/bin/bash" if shell else None)
    wall = time.monotonic() - t0
    srv = cl.server_cpu() - s0
    ru1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (ru1.ru_utime - ru0.ru_utime) + (ru1.ru_stime - ru0.ru_stime)
    return wall, cpu, srv, p.stdout.count(b"\n"), len(p.stdout), p.returncode == 0, p.stderr.decode()


def cmd_list(args):
    cl = Cluster(args)
    idle = float(open(os.path.join(cl.dir, "bench-idle-cpu")).read()) if os.path.exists(
        os.path.join(cl.dir, "bench-idle-cpu")) else 0.0
    nss = " ".join(f"bench-{n}" for n in range(args.namespaces))
    b, k = cl.berth, cl.kubectl
    curl = (f"curl -sS --fail --cacert {cl.dir}/certs/admin/ca.crt --cert {cl.dir}/certs/admin/tls.crt "
            f"--key {cl.dir}/certs/admin/tls.key -o /dev/null "
            f"https://{cl.host}:{cl.port}/apis/{GROUP}/{PLURAL}")
    table_accept = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json"
    # (name, API, what it is, argv or shell line)
    tools = [
        ("kubectl get vds -A", "REST", "table", [k, "get", "vds", "-A"]),
        ("kubectl get vds -A -o json", "REST", "json", [k, "get", "vds", "-A", "-o", "json"]),
        ("berth get vds -A", "gRPC", "table", [b, "get", "vds", "-A"]),
        ("berth get vds -A -o json", "gRPC", "json", [b, "get", "vds", "-A", "-o", "json"]),
        # The same 10,000 in one gRPC answer per namespace (the one-answer -A list may exceed the
        # CLI's 4 MiB gRPC message limit).
        (f"berth get vds -n NS (x{args.namespaces})", "gRPC", "table",
         f"for ns in {nss}; do {b} get vds -n $ns || exit; done"),
        (f"berth get vds -n NS -o json (x{args.namespaces})", "gRPC", "json",
         f"for ns in {nss}; do {b} get vds -n $ns -o json || exit; done"),
        # Diagnostics: kubectl without its 500-item pages, and the bare REST requests.
        ("kubectl get vds -A --chunk-size=0", "REST", "diag", [k, "get", "vds", "-A", "--chunk-size=0"]),
        ("kubectl get vds -A -o json --chunk-size=0", "REST", "diag",
         [k, "get", "vds", "-A", "-o", "json", "--chunk-size=0"]),
        ("curl JSON list (1 request)", "REST", "diag", curl),
        ("curl Table list (1 request)", "REST", "diag", f"{curl} -H 'Accept: {table_accept}'"),
        ("curl JSON list, 500-item pages", "REST", "diag", None),
        ("curl JSON, one 500-item page", "REST", "diag", curl.replace(PLURAL, PLURAL + "?limit=500")),
    ]
    if args.skip_diag:
        tools = [t for t in tools if t[2] != "diag"]
    # Warm-up (kubectl's discovery cache, page cache) and a check that each one works.
    works = {}
    for name, _, _, argv in tools:
        if argv is None:
            works[name] = True
            continue
        r = run_client(cl, argv, shell=isinstance(argv, str))
        works[name] = r[5]
        if not r[5]:
            log(f"list: {name} FAILED: {r[6].strip()[:300]}")
    results = {t[0]: [] for t in tools}
    for i in range(args.runs):
        order = tools[i % len(tools):] + tools[:i % len(tools)]  # alternate the order
        for name, _, _, argv in order:
            if not works[name]:
                continue
            if argv is None:
                results[name].append(paged_list(cl, 500))
                continue
            r = run_client(cl, argv, shell=isinstance(argv, str))
            if not r[5]:
                log(f"list: {name} failed in run {i}: {r[6].strip()[:200]}")
                continue
            results[name].append(r)
        log(f"list: run {i + 1}/{args.runs} done")

    def med(name, j):
        xs = [r[j] for r in results[name]]
        return statistics.median(xs) if xs else float("nan")

    out = [f"### List ({args.runs} alternating runs, medians)\n",
           f"Server CPU is the controller's user+system time over the run (/proc/PID/stat, 10 ms "
           f"ticks), including its idle load ({idle:.2f} CPU x wall); client CPU is the client "
           f"process tree's (getrusage of children).\n",
           "| client | API | wall s | client CPU s | server CPU s | server CPU s beyond idle (estimate) | lines | bytes |",
           "|---|---|---:|---:|---:|---:|---:|---:|"]
    for name, api, _, _ in tools:
        if not results[name]:
            out.append(f"| `{name}` | {api} | failed: {works[name] and 'see log' or 'does not work'} | | | | | |")
            continue
        w, c, s = med(name, 0), med(name, 1), med(name, 2)
        out.append(f"| `{name}` | {api} | {w:.2f} | {c:.2f} | {s:.2f} | {max(0.0, s - idle * w):.2f} | "
                   f"{int(med(name, 3)) or '-'} | {int(med(name, 4)) or '-'} |")
    out.append("")

    def ref(kind):  # the gRPC reference: -A in one answer if it works, else per namespace
        a = "berth get vds -A" + (" -o json" if kind == "json" else "")
        if results.get(a):
            return a
        return next(t[0] for t in tools if t[1] == "gRPC" and t[2] == kind and results[t[0]])

    out += ["| ratio REST / gRPC | wall | client CPU | server CPU | target (wall) |",
            "|---|---:|---:|---:|---|"]
    verdicts = []
    for kind, rest in (("table", "kubectl get vds -A"), ("json", "kubectl get vds -A -o json")):
        g = ref(kind)
        if not results[rest] or not g:
            continue
        rw, rc, rs = (med(rest, j) / max(med(g, j), 1e-9) for j in (0, 1, 2))
        ok = rw <= 1.2
        verdicts.append(ok)
        out.append(f"| `{rest}` / `{g}` | {rw:.1f}x | {rc:.1f}x | {rs:.1f}x | "
                   f"<= 1.2x: {'met' if ok else '**not met**'} |")
    out.append("")
    print("\n".join(out))
    sys.stdout.flush()


def paged_list(cl, limit):
    """kubectl's default: 500-item pages chained by `continue`, one connection."""
    c = cl.conn()
    s0, t0 = cl.server_cpu(), time.monotonic()
    ru0 = resource.getrusage(resource.RUSAGE_SELF)
    cont, lines, size, pages = "", 0, 0, 0
    while True:
        q = f"?limit={limit}" + (f"&continue={cont}" if cont else "")
        data = cl.request("GET", f"/apis/{GROUP}/{PLURAL}{q}", conn=c)
        d = json.loads(data)
        lines += len(d["items"])
        size += len(data)
        pages += 1
        cont = d["metadata"].get("continue", "")
        if not cont:
            break
    wall = time.monotonic() - t0
    srv = cl.server_cpu() - s0
    ru1 = resource.getrusage(resource.RUSAGE_SELF)
    c.close()
    return wall, (ru1.ru_utime - ru0.ru_utime) + (ru1.ru_stime - ru0.ru_stime), srv, lines, size, True, ""


# ---------------------------------------------------------------------------------------------
# watch

class RestWatcher:
    def __init__(self, cl, path):
        raw = socket.create_connection((cl.host, cl.port), timeout=30)
        raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock = cl.ctx.wrap_socket(raw, server_hostname=cl.host)
        self.sock.sendall(f"GET {path} HTTP/1.1\r\nHost: {cl.host}\r\nAccept: application/json\r\n"
                          f"User-Agent: berth-api-bench\r\n\r\n".encode())
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise RuntimeError("watch: connection closed before the headers")
            head += chunk
        head, self.raw = head.split(b"\r\n\r\n", 1)
        status = head.split(b"\r\n", 1)[0]
        if b" 200 " not in status or b"chunked" not in head.lower():
            raise RuntimeError(f"watch: {status!r}")
        self.sock.setblocking(False)
        self.body = b""
        self.closed = False

    def fileno(self):
        return self.sock.fileno()

    def read(self):
        got = False
        while True:
            try:
                chunk = self.sock.recv(262144)
            except (ssl.SSLWantReadError, BlockingIOError):
                break
            if not chunk:
                self.closed = True
                break
            self.raw += chunk
            got = True
        return got

    def lines(self):
        """Complete event lines out of the chunked body received so far."""
        while True:
            i = self.raw.find(b"\r\n")
            if i < 0:
                break
            size = int(self.raw[:i].split(b";")[0], 16)
            if len(self.raw) < i + 2 + size + 2:
                break
            self.body += self.raw[i + 2:i + 2 + size]
            self.raw = self.raw[i + 2 + size + 2:]
            if size == 0:
                self.closed = True
        if b"\n" not in self.body:
            return []
        *done, self.body = self.body.split(b"\n")
        return done


class GrpcWatcher:
    """`berth get vds -n NS -w --show-labels`: its rows on a pipe."""

    def __init__(self, cl, ns):
        self.proc = subprocess.Popen([cl.berth, "get", "vds", "-n", ns, "-w", "--no-headers",
                                      "--show-labels"], env=cl.env, stdout=subprocess.PIPE,
                                     stderr=subprocess.DEVNULL)
        self.fd = self.proc.stdout.fileno()
        os.set_blocking(self.fd, False)
        self.buf = b""
        self.count = 0
        self.closed = False

    def fileno(self):
        return self.fd

    def read(self):
        got = False
        while True:
            try:
                chunk = os.read(self.fd, 1 << 20)
            except BlockingIOError:
                break
            if not chunk:
                self.closed = True
                break
            self.buf += chunk
            got = True
        return got

    def lines(self):
        if b"\n" not in self.buf:
            return []
        *done, self.buf = self.buf.split(b"\n")
        self.count += len(done)
        return done

    def cpu(self):
        try:
            with open(f"/proc/{self.proc.pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            return (int(fields[11]) + int(fields[12])) / CLK_TCK
        except OSError:
            return 0.0


REST_LABEL = re.compile(rb'"' + LABEL.encode() + rb'":"([^"]+)"')
GRPC_LABEL = re.compile(LABEL.encode() + rb"=([A-Za-z0-9._-]+)")


def patch(cl, conn, ns, name, value):
    body = json.dumps({"metadata": {"labels": {LABEL: value}}})
    data = cl.request("PATCH", f"{ns_path(ns)}/{name}", body=body,
                      ctype="application/merge-patch+json", conn=conn)
    return json.loads(data)["metadata"]["resourceVersion"]


def cmd_watch(args):
    cl = Cluster(args)
    ns = "bench-0"
    tag = f"{args.mode}{args.watchers}x{os.getpid()}"
    conn = cl.conn()
    rv = patch(cl, conn, ns, obj_name(0, 0, args.namespaces), f"{tag}.prime")
    sel = selectors.DefaultSelector()
    watchers = []
    log(f"watch: starting {args.watchers} {args.mode} watchers on {ns}")
    t_start = time.monotonic()
    for _ in range(args.watchers):
        if args.mode == "rest":
            w = RestWatcher(cl, f"{ns_path(ns)}?watch=1&resourceVersion={rv}")
        else:
            w = GrpcWatcher(cl, ns)
        watchers.append(w)
        sel.register(w, selectors.EVENT_READ, len(watchers) - 1)
    seen = [dict() for _ in watchers]  # per watcher: label value -> first receipt time
    pat = REST_LABEL if args.mode == "rest" else GRPC_LABEL
    prefix = (tag + ".").encode()

    def pump(timeout, on_writer=None):
        ready = sel.select(timeout)
        stamped = []
        for key, _ in ready:  # receive everything first, then parse: timestamps at receipt
            if key.data == -1:  # the writer's output pipe (registered during the write phase)
                on_writer()
                continue
            w = watchers[key.data]
            if w.read():
                stamped.append((key.data, time.monotonic()))
            if w.closed:
                sel.unregister(w)
        for i, t in stamped:
            for line in watchers[i].lines():
                m = pat.search(line)
                if m and m.group(1).startswith(prefix):
                    seen[i].setdefault(m.group(1)[len(prefix):].decode(), t)

    # The CLI watchers list the namespace first: wait for all of their rows.
    if args.mode == "grpc":
        per_ns = len(range(0, args.count, args.namespaces))
        deadline = time.monotonic() + 300
        while min(w.count for w in watchers) < per_ns:
            if time.monotonic() > deadline or any(w.closed for w in watchers):
                sys.exit("api-bench: the berth watchers did not list the namespace")
            pump(0.5)
    # Synchronise: label writes until one reaches every watcher within 2 s.
    k = 0
    while True:
        k += 1
        value = f"s{k}"
        patch(cl, conn, ns, obj_name(0, 1, args.namespaces), f"{tag}.{value}")
        deadline = time.monotonic() + 2
        while time.monotonic() < deadline and not all(value in s for s in seen):
            pump(0.1)
        if all(value in s for s in seen):
            break
        if k > 30:
            missing = sum(1 for s in seen if value not in s)
            sys.exit(f"api-bench: {missing} watchers never received the sync writes")
    setup_s = time.monotonic() - t_start
    log(f"watch: {args.watchers} watchers ready in {setup_s:.1f}s; {args.writes} writes")
    # The writes, from a separate process.
    cpu_self0 = resource.getrusage(resource.RUSAGE_SELF)
    cpu_cli0 = sum(w.cpu() for w in watchers) if args.mode == "grpc" else 0.0
    srv0, w0 = cl.server_cpu(), time.monotonic()
    writer = subprocess.Popen([sys.executable, os.path.abspath(__file__), "writer", "--tag", tag,
                               "--writes", str(args.writes), "--interval-ms", str(args.interval_ms),
                               "--namespaces", str(args.namespaces)] + common_argv(args),
                              stdout=subprocess.PIPE)
    wfd = writer.stdout.fileno()
    sel.register(writer.stdout, selectors.EVENT_READ, -1)
    out = b""
    done_at = None

    def read_writer():
        nonlocal out, done_at
        chunk = os.read(wfd, 1 << 20)
        out += chunk
        if not chunk:
            sel.unregister(writer.stdout)
            done_at = time.monotonic()

    while True:
        pump(0.05, read_writer)
        if done_at is not None:
            complete = all(len(s) >= args.writes for s in seen)
            if complete or time.monotonic() - done_at > 5:
                break
    wall = time.monotonic() - w0
    srv = cl.server_cpu() - srv0
    cpu_self1 = resource.getrusage(resource.RUSAGE_SELF)
    client_cpu = (cpu_self1.ru_utime - cpu_self0.ru_utime) + (cpu_self1.ru_stime - cpu_self0.ru_stime)
    if args.mode == "grpc":
        client_cpu = sum(w.cpu() for w in watchers) - cpu_cli0
    writer.wait()
    writes = json.loads(out)  # [[seq, t_send, t_resp], ...]
    for w in watchers:
        if args.mode == "grpc":
            w.proc.terminate()
        else:
            w.sock.close()
    for w in watchers:
        if args.mode == "grpc":
            w.proc.wait()
    lat_resp, lat_send, missing = [], [], 0
    for seq, t_send, t_resp in writes:
        for s in seen:
            t = s.get(str(seq))
            if t is None:
                missing += 1
                continue
            lat_resp.append((t - t_resp) * 1000)
            lat_send.append((t - t_send) * 1000)
    write_ms = [(r - s) * 1000 for _, s, r in writes]
    res = {
        "mode": args.mode, "watchers": args.watchers, "writes": len(writes),
        "pairs": len(lat_resp), "missing": missing, "setup_s": setup_s, "wall_s": wall,
        "server_cpu_s": srv, "client_cpu_s": client_cpu,
        "write_p50": pct(write_ms, 50), "write_p99": pct(write_ms, 99),
        "resp_p50": pct(lat_resp, 50), "resp_p99": pct(lat_resp, 99), "resp_max": max(lat_resp or [0]),
        "send_p50": pct(lat_send, 50), "send_p99": pct(lat_send, 99), "send_max": max(lat_send or [0]),
    }
    log("watch: " + json.dumps(res))
    with open(args.results, "a") as f:
        f.write(json.dumps(res) + "\n")


def cmd_writer(args):
    cl = Cluster(args)
    conn = cl.conn()
    out = []
    t0 = time.monotonic()
    per_ns = len(range(0, args.count, args.namespaces))
    for seq in range(args.writes):
        wait = t0 + seq * args.interval_ms / 1000.0 - time.monotonic()
        if wait > 0:
            time.sleep(wait)
        name = obj_name(0, 2 + seq % (per_ns - 2), args.namespaces)
        t_send = time.monotonic()
        patch(cl, conn, "bench-0", name, f"{args.tag}.{seq}")
        out.append([seq, t_send, time.monotonic()])
    sys.stdout.write(json.dumps(out))


def cmd_report_watch(args):
    rows = [json.loads(l) for l in open(args.results) if l.strip()]
    out = [f"### Watch latency ({rows[0]['writes'] if rows else 0} label patches "
           f"(merge-patch over REST, one connection, a separate process) every {args.interval_ms} ms "
           f"to objects of bench-0; every watcher watches bench-0)\n",
           "Latency = a watcher's receipt of the event - the arrival of the PATCH's response "
           "(\"after commit\"); in brackets, - the PATCH's send. REST watchers: raw TLS "
           "connections (`?watch=1&resourceVersion=RV`, JSON events) on one Python selector "
           "loop; gRPC watchers: one `berth get vds -n bench-0 -w --show-labels` process each, "
           "rows read from pipes (their latency includes the CLI's decoding and printing). "
           "CPU over the write phase.\n",
           "| watchers | API | events | missing | p50 ms | p99 ms | max ms | PATCH p50/p99 ms | "
           "server CPU s | watcher CPU s | wall s |",
           "|---:|---|---:|---:|---:|---:|---:|---|---:|---:|---:|"]
    for r in rows:
        api = "REST" if r["mode"] == "rest" else "gRPC (berth -w)"
        out.append(f"| {r['watchers']} | {api} | {r['pairs']} | {r['missing']} | "
                   f"{r['resp_p50']:.1f} ({r['send_p50']:.1f}) | {r['resp_p99']:.1f} ({r['send_p99']:.1f}) | "
                   f"{r['resp_max']:.1f} ({r['send_max']:.1f}) | {r['write_p50']:.1f}/{r['write_p99']:.1f} | "
                   f"{r['server_cpu_s']:.2f} | {r['client_cpu_s']:.2f} | {r['wall_s']:.1f} |")
    out.append("")
    by = {(r["mode"], r["watchers"]): r for r in rows}
    lines = []
    big = max((r["watchers"] for r in rows if r["mode"] == "rest"), default=0)
    if ("rest", big) in by:
        r = by[("rest", big)]
        ok = r["resp_p99"] <= 50 and r["missing"] == 0
        lines.append(f"Target p99 <= 50 ms at {big} REST watchers: "
                     f"{'met' if ok else '**not met**'} (p99 {r['resp_p99']:.1f} ms, "
                     f"{r['missing']} missing).")
        if ("grpc", big) in by:
            g = by[("grpc", big)]
            lines.append(f"REST / gRPC at {big} watchers: p99 {r['resp_p99'] / max(g['resp_p99'], 1e-9):.2f}x "
                         f"after the response, {r['send_p99'] / max(g['send_p99'], 1e-9):.2f}x after the send "
                         f"(the {big} CLI watchers used {g['client_cpu_s']:.1f} CPU-s in {g['wall_s']:.1f} s).")
        if ("rest", 1) in by and big != 1:
            o = by[("rest", 1)]
            lines.append(f"REST {big} watchers / 1 watcher: p99 {r['resp_p99'] / max(o['resp_p99'], 1e-9):.1f}x "
                         f"after the response, {r['send_p99'] / max(o['send_p99'], 1e-9):.1f}x after the send; "
                         f"PATCH p99 {r['write_p99']:.0f} ms vs {o['write_p99']:.0f} ms.")
        lines.append(f"Measured from the PATCH's send (the write's own latency included) the REST p99 at {big} "
                     f"watchers is {r['send_p99']:.1f} ms: {'within' if r['send_p99'] <= 50 else 'over'} 50 ms.")
    print("\n".join(out + lines) + "\n")


# ---------------------------------------------------------------------------------------------

def common_argv(args):
    return ["--dir", args.dir, "--kube-url", args.kube_url, "--grpc-server", args.grpc_server,
            "--berth", args.berth, "--kubectl", args.kubectl, "--count", str(args.count)]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("command", choices=["setup", "list", "watch", "writer", "report-watch"])
    ap.add_argument("--dir", default="/var/tmp/berth-bench-api")
    ap.add_argument("--kube-url", default="https://127.0.0.1:26443")
    ap.add_argument("--grpc-server", default="127.0.0.1:27443")
    ap.add_argument("--berth", default="berth")
    ap.add_argument("--kubectl", default="/usr/bin/kubectl")
    ap.add_argument("--count", type=int, default=10000)
    ap.add_argument("--namespaces", type=int, default=4)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--skip-diag", action="store_true")
    ap.add_argument("--mode", choices=["rest", "grpc"], default="rest")
    ap.add_argument("--watchers", type=int, default=100)
    ap.add_argument("--writes", type=int, default=200)
    ap.add_argument("--interval-ms", type=float, default=20)
    ap.add_argument("--tag", default="")
    ap.add_argument("--results", default="")
    args = ap.parse_args()
    {"setup": cmd_setup, "list": cmd_list, "watch": cmd_watch, "writer": cmd_writer,
     "report-watch": cmd_report_watch}[args.command](args)


if __name__ == "__main__":
    main()
