// The console's bench (run by run-console-bench.sh, which makes the cluster and the objects).
// Prints markdown on stdout, progress on stderr. Node 20, playwright-core from console/.
import { execFileSync, spawn } from "node:child_process";
import { readFileSync, readdirSync } from "node:fs";
import { createRequire } from "node:module";
import { join } from "node:path";

const env = process.env;
const require = createRequire(join(env.CONSOLE_DIR, "package.json"));
const { chromium } = require("playwright-core");
const URL = env.BENCH_URL;
const NS = env.BENCH_NS;
const COUNT = Number(env.BENCH_COUNT);
const RUNS = Number(env.BENCH_RUNS);
const UPDATES = Number(env.BENCH_UPDATES);
const G = "/apis/virtualization.deckhouse.io/v1alpha2";
const log = (...a) => console.error("console-bench:", ...a);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? (s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2) : NaN;
};
const pct = (xs, p) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))];
};

// CPU-seconds of every descendant of pid (the browser's processes are children of this node).
function treeCpu(root = process.pid) {
  const kids = new Map();
  const cpu = new Map();
  for (const d of readdirSync("/proc")) {
    if (!/^\d+$/.test(d)) continue;
    let stat;
    try {
      stat = readFileSync(`/proc/${d}/stat`, "utf8");
    } catch {
      continue;
    }
    const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    const ppid = Number(f[1]);
    if (!kids.has(ppid)) kids.set(ppid, []);
    kids.get(ppid).push(Number(d));
    cpu.set(Number(d), (Number(f[11]) + Number(f[12])) / 100);
  }
  let sum = 0;
  const stack = [...(kids.get(root) || [])];
  while (stack.length) {
    const p = stack.pop();
    sum += cpu.get(p) || 0;
    stack.push(...(kids.get(p) || []));
  }
  return sum;
}

function rendererRssMb(root = process.pid) {
  let best = 0;
  for (const d of readdirSync("/proc")) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const cmd = readFileSync(`/proc/${d}/cmdline`, "utf8");
      if (!cmd.includes("--type=renderer")) continue;
      const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${d}/status`, "utf8"));
      if (m) best = Math.max(best, Number(m[1]) / 1024);
    } catch {}
  }
  return best;
}

// Runs a reference command under bash; returns wall seconds and the command's CPU-seconds
// (bash's `times`: the children's user and system time).
function reference(cmd) {
  const t0 = performance.now();
  const out = execFileSync("bash", ["-c", `${cmd} >/dev/null; times`], { encoding: "utf8", maxBuffer: 1 << 30 });
  const wall = (performance.now() - t0) / 1000;
  const last = out.trim().split("\n").pop();
  const secs = last.split(/\s+/).map((t) => {
    const m = /(\d+)m([\d.]+)s/.exec(t);
    return m ? Number(m[1]) * 60 + Number(m[2]) : 0;
  });
  return { wall, cpu: secs[0] + secs[1] };
}

async function api(method, path, body) {
  const res = await fetch(URL + path, {
    method,
    headers: { Authorization: `Bearer ${env.BENCH_TOKEN}`, "Content-Type": "application/json", Accept: "application/json" },
    body: body ? JSON.stringify(body) : undefined,
  });
  const text = await res.text();
  if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${text.slice(0, 300)}`);
  return JSON.parse(text);
}

// In the page before its scripts: the token, and marks for the first full render and for each
// new-* row turning Ready.
const initScript = `
  sessionStorage.setItem("berth.token", ${JSON.stringify(env.BENCH_TOKEN)});
  window.__marks = {};
  new MutationObserver(() => {
    if (window.__marks.first === undefined && document.querySelector("tbody tr[data-name]")) {
      window.__marks.first = performance.now();
    }
    const c = document.querySelector(".count");
    if (c && window.__marks.render === undefined && c.textContent.startsWith("${COUNT} ")) {
      window.__marks.render = performance.now();
    }
    for (const row of document.querySelectorAll('tr[data-name^="new-"]')) {
      const n = row.getAttribute("data-name");
      if (window.__marks[n] === undefined && row.textContent.includes("Ready")) window.__marks[n] = Date.now();
    }
  }).observe(document, { subtree: true, childList: true, characterData: true });
`;

const browser = await chromium.launch({
  executablePath: "/usr/bin/chromium",
  headless: true,
  args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage"],
});
const listUrl = `${URL}${G}/namespaces/${NS}/virtualdisksnapshots`;
const curl = `curl -sf --cacert ${env.BENCH_CA} -H 'Authorization: Bearer ${env.BENCH_TOKEN}' -H 'Accept: application/json' '${listUrl}' -o /dev/null`;
const kubectl = `kubectl get vds -n ${NS} --chunk-size=0`;

// --- 1. first render, alternating with the references ---------------------------------------------
const page = { wall: [], cpu: [] };
const first = [];  // navigation → the first rows on screen
const refCurl = { wall: [], cpu: [] };
const refKubectl = { wall: [], cpu: [] };
let heapMb = 0;
let rssMb = 0;
for (let i = 0; i < RUNS; i++) {
  const c0 = treeCpu();
  const ctx = await browser.newContext({ ignoreHTTPSErrors: true, viewport: { width: 1280, height: 800 } });
  await ctx.addInitScript(initScript);
  const p = await ctx.newPage();
  await p.goto(`${URL}/#/p/${NS}/disk-images`);
  await p.waitForFunction(() => window.__marks.render !== undefined, null, { timeout: 60000 });
  const ms = await p.evaluate(() => window.__marks.render);
  page.wall.push(ms / 1000);
  first.push((await p.evaluate(() => window.__marks.first)) / 1000);
  page.cpu.push(treeCpu() - c0);
  if (i === RUNS - 1) {
    const cdp = await ctx.newCDPSession(p);
    await cdp.send("Performance.enable");
    const m = (await cdp.send("Performance.getMetrics")).metrics;
    heapMb = (m.find((x) => x.name === "JSHeapUsedSize")?.value || 0) / 2 ** 20;
    rssMb = rendererRssMb();
    // --- 2. updates, on this last page, against kubectl's watch -----------------------------------
    const kw = spawn("kubectl", ["get", "vds", "-n", NS, "--watch-only", "-o",
      "jsonpath={.metadata.name} {.status.phase}{\"\\n\"}"], { stdio: ["ignore", "pipe", "inherit"] });
    const seen = {};
    let buf = "";
    kw.stdout.on("data", (d) => {
      buf += d;
      for (let j = buf.indexOf("\n"); j >= 0; j = buf.indexOf("\n")) {
        const [n, ph] = buf.slice(0, j).split(" ");
        buf = buf.slice(j + 1);
        if (ph === "Ready" && seen[n] === undefined) seen[n] = Date.now();
      }
    });
    await sleep(1500);  // kubectl's watch is established
    const pageLat = [];
    const kubectlLat = [];
    for (let u = 0; u < UPDATES; u++) {
      const name = `new-${Date.now()}-${u}`;
      await api("POST", `${G}/namespaces/${NS}/virtualdisksnapshots`, {
        apiVersion: "virtualization.deckhouse.io/v1alpha2",
        kind: "VirtualDiskSnapshot",
        metadata: { name },
        spec: { virtualDiskName: "missing-disk", requiredConsistency: false },
      });
      await p.locator(`tr[data-name="${name}"]`).waitFor({ timeout: 30000 });
      await sleep(300);  // the controller's own first status write is done
      const o = await api("GET", `${G}/namespaces/${NS}/virtualdisksnapshots/${name}`);
      o.status = { ...(o.status || {}), phase: "Ready", consistent: false };
      await api("PUT", `${G}/namespaces/${NS}/virtualdisksnapshots/${name}/status`, o);
      const t = Date.now();
      const end = t + 10000;
      let pm;
      while ((pm = await p.evaluate((n) => window.__marks[n], name)) === undefined && Date.now() < end) await sleep(5);
      while (seen[name] === undefined && Date.now() < end) await sleep(5);
      if (pm !== undefined) pageLat.push(Math.max(0, pm - t));
      if (seen[name] !== undefined) kubectlLat.push(Math.max(0, seen[name] - t));
      await api("DELETE", `${G}/namespaces/${NS}/virtualdisksnapshots/${name}`);
    }
    kw.kill();
    globalThis.updates = { pageLat, kubectlLat };
  }
  await ctx.close();
  const a = reference(curl);
  refCurl.wall.push(a.wall);
  refCurl.cpu.push(a.cpu);
  const b = reference(kubectl);
  refKubectl.wall.push(b.wall);
  refKubectl.cpu.push(b.cpu);
  log(`run ${i + 1}: first rows ${first.at(-1).toFixed(3)} s, whole list ${page.wall.at(-1).toFixed(3)} s (${page.cpu.at(-1).toFixed(2)} CPU), curl ${a.wall.toFixed(3)} s, kubectl ${b.wall.toFixed(3)} s`);
}
await browser.close();

const f = (x, d = 3) => x.toFixed(d);
const { pageLat, kubectlLat } = globalThis.updates;
console.log(`### First render of Disk Images with ${COUNT} snapshots (${RUNS} alternating runs, medians)

| | wall s | CPU-s | console ÷ this |
|---|---|---|---|
| console: navigation → first rows on screen (the list's first page of ${250}) | **${f(median(first))}** | | |
| console: navigation → every page of the list in, "${COUNT} objects" shown | ${f(median(page.wall))} | ${f(median(page.cpu), 2)} (browser, all processes) | 1.00× |
| \`curl\` GET of the same list (JSON, discarded) | ${f(median(refCurl.wall))} | ${f(median(refCurl.cpu), 2)} | ${f(median(page.wall) / median(refCurl.wall), 2)}× |
| \`${kubectl}\` | ${f(median(refKubectl.wall))} | ${f(median(refKubectl.cpu), 2)} | ${f(median(page.wall) / median(refKubectl.wall), 2)}× |

Target ≤ 1 s to first render: ${median(first) <= 1 ? "met" : "**not met**"} (runs: ${first.map((x) => f(x)).join(", ")}); the whole list: ${median(page.wall) <= 1 ? "also within 1 s" : "over 1 s"} (runs: ${page.wall.map((x) => f(x)).join(", ")}).

### A new snapshot's Ready, from the status write's response (${UPDATES} updates)

| receiver | p50 ms | p99 ms | max ms |
|---|---|---|---|
| console row shows Ready | **${median(pageLat).toFixed(0)}** | ${pct(pageLat, 99).toFixed(0)} | ${Math.max(...pageLat).toFixed(0)} |
| \`kubectl get vds -w\` prints it | ${median(kubectlLat).toFixed(0)} | ${pct(kubectlLat, 99).toFixed(0)} | ${Math.max(...kubectlLat).toFixed(0)} |

Console/kubectl at p50: ${f(median(pageLat) / Math.max(1, median(kubectlLat)), 2)}×. Target ≤ 250 ms: ${pct(pageLat, 99) <= 250 ? "met at p99" : median(pageLat) <= 250 ? "met at p50, not at p99" : "**not met**"}. Received ${pageLat.length}/${UPDATES} (console), ${kubectlLat.length}/${UPDATES} (kubectl).

### Memory of the tab with ${COUNT} snapshots loaded

JS heap used **${heapMb.toFixed(0)} MB** (CDP \`Performance.getMetrics\` JSHeapUsedSize); renderer process RSS **${rssMb.toFixed(0)} MB**. Target ≤ 200 MB: ${rssMb <= 200 ? "met" : "**not met**"}.
`);
