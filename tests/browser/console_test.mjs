// The console's browser suite (run by console_test.sh, which makes the cluster, fixtures and
// tokens). Debian's chromium, headless, through playwright-core. Every check is soft: it is
// reported, counted, and the suite fails at the end if any failed.
import { createHash, randomBytes } from "node:crypto";
import { closeSync, openSync, readFileSync, rmSync, writeFileSync, writeSync } from "node:fs";
import { tmpdir } from "node:os";
import { createRequire } from "node:module";
import { join } from "node:path";

const env = process.env;
const require = createRequire(join(env.CONSOLE_DIR, "package.json"));
const { chromium } = require("playwright-core");
const URL = env.CONSOLE_URL;
const NS = env.CONSOLE_NS;
const SHOTS = env.BERTH_SCREENSHOT_DIR;
const G = "/apis/virtualization.deckhouse.io/v1alpha2";
const T0 = Date.now();

let checks = 0;
let failures = 0;
function check(what, ok, detail = "") {
  checks++;
  if (ok) console.log(`PASS: ${what}`);
  else {
    failures++;
    console.log(`FAIL: ${what}${detail ? `: ${detail}` : ""}`);
  }
}
function section(s) {
  console.log(`--- ${s} (${((Date.now() - T0) / 1000).toFixed(1)} s)`);
}

// The API, as the admin, for what the browser cannot see: files on disk, fixture changes.
async function api(method, path, body, contentType = "application/json") {
  const res = await fetch(URL + path, {
    method,
    headers: { Authorization: `Bearer ${env.ADMIN_TOKEN}`, Accept: "application/json", ...(body ? { "Content-Type": contentType } : {}) },
    body: body ? JSON.stringify(body) : undefined,
  });
  const text = await res.text();
  let json = null;
  try {
    json = JSON.parse(text);
  } catch {}
  return { code: res.status, json, text };
}
async function get(plural, name) {
  return api("GET", `${G}/namespaces/${NS}/${plural}/${name}`);
}
async function exists(plural, name) {
  return (await get(plural, name)).code === 200;
}
function sha256(path) {
  return createHash("sha256").update(readFileSync(path)).digest("hex");
}

const browser = await chromium.launch({
  executablePath: env.CHROMIUM,
  headless: true,
  args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage",
    // The cluster CA is not in chromium's store; the download manager checks certificates on its own.
    "--ignore-certificate-errors"],
});
const pageErrors = [];
async function session(name) {
  const ctx = await browser.newContext({ ignoreHTTPSErrors: true, viewport: { width: 1280, height: 800 } });
  const page = await ctx.newPage();
  page.setDefaultTimeout(15000);
  page.on("pageerror", (e) => pageErrors.push(`${name}: ${e.message}`));
  page.on("console", (m) => m.type() === "error" && !/401|403|409|422|400|Failed to load resource/.test(m.text()) &&
    pageErrors.push(`${name}: console: ${m.text()}`));
  return page;
}
// Signs in with token; unless `refused`, waits until the console says who is signed in.
async function signIn(page, token, refused = false) {
  await page.goto(URL + "/");
  await page.getByLabel("Access token").fill(token);
  await page.getByRole("button", { name: "Sign in" }).click();
  if (!refused) await page.getByTestId("who").waitFor({ timeout: 15000 }).catch(() => {});
}
async function shot(page, name) {
  await page.screenshot({ path: join(SHOTS, `${name}.png`) });
}
async function textOf(locator, timeout = 15000) {
  try {
    await locator.first().waitFor({ timeout });
    return (await locator.first().innerText()).trim();
  } catch (e) {
    return `<none: ${e.message.split("\n")[0]}>`;
  }
}
// Waits until the locator's text matches re; returns whether it did.
async function waitText(locator, re, timeout = 90000) {
  const end = Date.now() + timeout;
  while (Date.now() < end) {
    try {
      if (re.test(await locator.first().innerText({ timeout: 1000 }))) return true;
    } catch {}
    await new Promise((r) => setTimeout(r, 250));
  }
  return false;
}
async function visible(locator, timeout = 10000) {
  try {
    await locator.first().waitFor({ state: "visible", timeout });
    return true;
  } catch {
    return false;
  }
}
const go = (page, hash) => page.goto(`${URL}/#${hash}`);

try {
  // --- 1. the page itself ----------------------------------------------------------------------
  section("1. served page");
  {
    const res = await fetch(URL + "/", { headers: { Accept: "text/html" } });
    const csp = res.headers.get("content-security-policy") || "";
    check("/ serves the console's HTML", res.status === 200 && (await res.text()).includes('<div id="app">'));
    check("CSP allows only the page's own origin", /default-src 'self'/.test(csp) && !/unsafe-inline/.test(csp), csp);
  }

  // --- 2. bad sign-ins ---------------------------------------------------------------------------
  section("2. sign-in errors");
  const anon = await session("anon");
  await signIn(anon, "not-a-token", true);
  check("a malformed token is refused in the server's words",
    /Unauthorized|token/i.test(await textOf(anon.getByRole("alert"))), await textOf(anon.getByRole("alert")));
  await shot(anon, "sign-in-error");
  await signIn(anon, env.EXPIRED_TOKEN, true);
  check("an expired token says it expired", await waitText(anon.getByRole("alert"), /expired/i, 10000),
    await textOf(anon.getByRole("alert")));
  check("still on the sign-in form", await visible(anon.getByLabel("Access token")));

  // --- 3. a user with no grant -------------------------------------------------------------------
  section("3. a user without a grant");
  const bob = await session("bob");
  await signIn(bob, env.BOB_TOKEN);
  check("bob is signed in", /bob/.test(await textOf(bob.getByTestId("who"))));
  check("bob has no projects", await waitText(bob.locator("main"), /You have no projects/, 10000),
    await textOf(bob.locator("main")));
  await go(bob, `/p/${NS}/disk-images`);
  const denied = await textOf(bob.getByRole("alert"));
  check("bob's view of the project says forbidden, naming him", /forbidden/i.test(denied) && /bob/.test(denied), denied);
  await bob.getByRole("button", { name: "Create Disk Snapshot" }).click();
  await bob.getByLabel("Disk Snapshot Name").fill("bobs-snap");
  await bob.locator("select[name=disk]").evaluate((s) => {
    s.required = false;  // no disk to pick: submit anyway, the server must refuse
  });
  await bob.getByRole("dialog").getByRole("button", { name: "Create" }).click();
  const bobErr = await textOf(bob.getByRole("dialog").getByRole("alert"));
  check("bob's create is refused in the dialog", /forbidden/i.test(bobErr), bobErr);
  check("nothing was created for bob", !(await exists("virtualdisksnapshots", "bobs-snap")));

  // --- 4. disk snapshot, live in a second session --------------------------------------------------
  section("4. Disk Images: Create Disk Snapshot");
  const alice = await session("alice");
  const admin = await session("admin");
  await signIn(alice, env.ALICE_TOKEN);
  check("alice is signed in", /alice/.test(await textOf(alice.getByTestId("who"))));
  const projects = await textOf(alice.locator("ul.projects"));
  check("alice sees exactly her project", projects === NS, projects);
  await shot(alice, "projects");
  await signIn(admin, env.ADMIN_TOKEN);
  await go(admin, `/p/${NS}/disk-images`);
  await admin.getByRole("table", { name: "Disk snapshots" }).waitFor();

  await alice.getByRole("link", { name: NS }).click();
  await alice.getByRole("link", { name: "Disk Images" }).click();
  await alice.getByRole("button", { name: "Create Disk Snapshot" }).click();
  await alice.getByLabel("Disk Snapshot Name").fill("Bad_Name");
  await alice.getByLabel("Disk Name").selectOption("data");
  await alice.getByRole("dialog").getByRole("button", { name: "Create" }).click();
  const badName = await textOf(alice.getByRole("dialog").getByRole("alert"));
  check("an invalid name is refused, naming the field", /metadata\.name/.test(badName), badName);
  await shot(alice, "create-disk-snapshot-error");
  const listed = await api("GET", `${G}/namespaces/${NS}/virtualdisksnapshots`);
  check("nothing was created for the invalid name", listed.json?.items?.length === 0, listed.text.slice(0, 200));

  const diskPath = (await get("virtualdisks", "data")).json.status.path;
  const before = sha256(diskPath);
  await alice.getByLabel("Disk Snapshot Name").fill("ui-snap");
  check("Consistency Guarantee is on by default", await alice.getByRole("switch", { name: "Consistency Guarantee" }).isChecked());
  await alice.getByRole("dialog").getByRole("button", { name: "Create" }).click();
  const status = alice.getByTestId("status");
  check("the new snapshot's page shows Ready under its name", await waitText(status, /Ready/), await textOf(status));
  check("and consistent", /\bconsistent/.test(await textOf(status)) && !/not consistent/.test(await textOf(status)));
  await shot(alice, "disk-snapshot");
  check("the second session's list shows it Ready without a reload",
    await waitText(admin.locator('tr[data-name="ui-snap"]'), /Ready/, 15000), await textOf(admin.locator("table")));
  await shot(admin, "disk-images");

  // The disk changes after the snapshot; the restore must bring back the old bytes.
  const fd = openSync(diskPath, "r+");
  writeSync(fd, randomBytes(1 << 20), 0, 1 << 20, 0);
  closeSync(fd);
  check("the disk was overwritten after the snapshot", sha256(diskPath) !== before);

  // --- 5. restore a disk from the snapshot ----------------------------------------------------------
  section("5. VM Disks: Create Disk from a snapshot");
  await alice.getByRole("link", { name: "VM Disks" }).click();
  await alice.getByRole("button", { name: "Create Disk" }).click();
  await alice.getByLabel("Disk Name").fill("ui-restored");
  await alice.getByRole("radio", { name: "Snapshots" }).check();
  await alice.getByLabel("Disk snapshot").selectOption("ui-snap");
  check("the size defaults to the original disk's", (await alice.getByLabel("Size").inputValue()) === "64Mi",
    await alice.getByLabel("Size").inputValue());
  check("the StorageClass defaults to the original disk's",
    (await alice.getByLabel("StorageClass Name").inputValue()) === "local-reflink");
  await alice.getByLabel("Size").fill("32Mi");
  const small = await textOf(alice.locator(".field-error"));
  check("a too-small size is explained before submitting", /at least 64Mi/.test(small), small);
  check("and Create is disabled", await alice.getByRole("dialog").getByRole("button", { name: "Create" }).isDisabled());
  await shot(alice, "create-disk-too-small");
  await alice.getByLabel("Size").press("Enter");
  check("nothing was created for the too-small size", !(await exists("virtualdisks", "ui-restored")));
  await alice.getByLabel("Size").fill("64Mi");
  await alice.getByRole("dialog").getByRole("button", { name: "Create" }).click();
  check("the restored disk's page shows Ready", await waitText(alice.getByTestId("status"), /Ready/), await textOf(alice.getByTestId("status")));
  const restored = (await get("virtualdisks", "ui-restored")).json;
  check("the restored disk has the bytes of snapshot time", sha256(restored.status.path) === before);

  // --- 5b. download the snapshot through the export objects --------------------------------------
  section("5b. Download a disk snapshot");
  await go(alice, `/p/${NS}/disk-images/ui-snap`);
  const [dl] = await Promise.all([
    alice.waitForEvent("download", { timeout: 60000 }),
    alice.getByRole("button", { name: "Download" }).click(),
  ]);
  check("the download is named after the snapshot", dl.suggestedFilename() === "ui-snap.img", dl.suggestedFilename());
  const dlPath = await dl.path();
  check("the downloaded bytes are the snapshot's (SHA-256)", dlPath && sha256(dlPath) === before);
  check("the page says the browser is downloading", await waitText(alice.locator(".export-ready"), /Downloading ui-snap\.img/, 10000));
  await shot(alice, "download");
  const dexList = (await api("GET", `${G}/namespaces/${NS}/dataexports`)).json?.items || [];
  const dex = dexList.find((d) => d.spec?.targetRef?.name === "ui-snap");
  check("it went through a DataExport of the snapshot", dex?.spec?.targetRef?.kind === "VirtualDiskSnapshot");
  if (dex) {
    const dataPath = `${URL}${G}/namespaces/${NS}/dataexports/${dex.metadata.name}/data`;
    const wrong = await fetch(`${dataPath}?token=not-the-token`);
    check("a wrong export token is 401", wrong.status === 401, String(wrong.status));
    const ranged = await fetch(`${dataPath}?token=${dex.status.token}`, { headers: { Range: "bytes=4096-8191" } });
    const part = Buffer.from(await ranged.arrayBuffer());
    const want = readFileSync(dlPath).subarray(4096, 8192);
    check("a Range request is 206 with those bytes", ranged.status === 206 && part.equals(want), `${ranged.status} ${part.length}`);
    const noAuth = await fetch(dataPath);
    check("without a token or credentials it is 401", noAuth.status === 401, String(noAuth.status));
  }

  // --- 5c. upload an image file as a disk ------------------------------------------------------------
  section("5c. Upload an image as a disk");
  const upFile = join(tmpdir(), `berth-console-upload-${process.pid}.img`);
  const upBytes = Buffer.concat([randomBytes(4 << 20), Buffer.alloc(4 << 20), randomBytes((1 << 20) + 1000)]);
  writeFileSync(upFile, upBytes);
  await go(alice, `/p/${NS}/disks`);
  await alice.getByRole("button", { name: "Upload image" }).click();
  const upDialog = alice.getByRole("dialog");
  await upDialog.getByLabel("Name", { exact: true }).fill("ui-upload");
  await upDialog.getByLabel("Image file").setInputFiles(upFile);
  await upDialog.getByLabel("Size").fill("1Mi");
  const upSmall = await textOf(upDialog.locator(".field-error"));
  check("an upload size below the file's is explained", /at least the file's/.test(upSmall), upSmall);
  check("and Upload is disabled", await upDialog.getByRole("button", { name: "Upload", exact: true }).isDisabled());
  check("nothing was created for it", !(await exists("virtualdisks", "ui-upload")));
  await upDialog.getByLabel("Size").fill("");
  await upDialog.getByLabel("StorageClass Name").fill("local-reflink");
  await upDialog.getByRole("button", { name: "Upload", exact: true }).click();
  check("the uploaded disk's page shows Ready", await waitText(alice.getByTestId("status"), /Ready/, 120000),
    await textOf(alice.locator("main")));
  const upDisk = (await get("virtualdisks", "ui-upload")).json;
  const upStored = upDisk?.status?.path ? readFileSync(upDisk.status.path).subarray(0, upBytes.length) : Buffer.alloc(0);
  check("the disk holds the file's bytes", createHash("sha256").update(upStored).digest("hex") ===
    createHash("sha256").update(upBytes).digest("hex"));
  rmSync(upFile, { force: true });

  // --- 6. the YAML editor saves with resourceVersion ------------------------------------------------
  section("6. YAML editor and conflicts");
  await go(alice, `/p/${NS}/disk-images/ui-snap`);
  await alice.getByRole("tab", { name: "YAML" }).click();
  await alice.getByRole("button", { name: "Edit" }).click();
  const yaml = alice.getByLabel("YAML of the object");
  await yaml.fill((await yaml.inputValue()).replace("metadata:\n", "metadata:\n  labels:\n    team: alice\n"));
  const patched = await api("PATCH", `${G}/namespaces/${NS}/virtualdisksnapshots/ui-snap`,
    { metadata: { labels: { owner: "admin" } } }, "application/merge-patch+json");
  check("someone else changed the object meanwhile", patched.code === 200, patched.text.slice(0, 200));
  await alice.getByRole("button", { name: "Save" }).click();
  const conflict = await textOf(alice.locator(".conflict"));
  check("saving a stale object is a conflict that offers a reload", /changed since you opened it/.test(conflict), conflict);
  await shot(alice, "yaml-conflict");
  await alice.getByRole("button", { name: "Reload" }).click();
  check("the reload shows the other change", /owner: admin/.test(await yaml.inputValue()));
  await alice.getByRole("button", { name: "Edit" }).click();
  await yaml.fill((await yaml.inputValue()).replace("owner: admin", "owner: admin\n    team: alice"));
  await alice.getByRole("button", { name: "Save" }).click();
  check("a fresh save goes through", await waitText(alice.getByRole("status"), /Saved/, 10000));
  const labels = (await get("virtualdisksnapshots", "ui-snap")).json?.metadata?.labels || {};
  check("both labels are stored", labels.team === "alice" && labels.owner === "admin", JSON.stringify(labels));

  // --- 7. VM snapshot, restore, clone ---------------------------------------------------------------
  section("7. Virtual Machines: snapshot, restore, clone");
  await alice.getByRole("link", { name: "Virtual Machines" }).click();
  await alice.getByRole("link", { name: "web", exact: true }).click();
  await alice.getByRole("tab", { name: "Snapshots" }).click();
  await alice.getByRole("button", { name: "Create" }).click();
  await alice.getByLabel("Snapshot name").fill("ui-vmsnap");
  await alice.getByLabel("IP address conversion policy").selectOption("Never");
  await alice.getByRole("dialog").getByRole("button", { name: "Create" }).click();
  const vmsnapRow = alice.locator('tr[data-name="ui-vmsnap"]');
  check("the VM snapshot turns Ready in the Snapshots tab", await waitText(vmsnapRow, /Ready/), await textOf(vmsnapRow));
  check("it lists the VM, its disk and its Secret",
    /VirtualMachine\/web/.test(await textOf(vmsnapRow)) && /VirtualDisk\/web-root/.test(await textOf(vmsnapRow)) &&
      /Secret\/web-cloud-init/.test(await textOf(vmsnapRow)), await textOf(vmsnapRow));
  const vmsnap = (await get("virtualmachinesnapshots", "ui-vmsnap")).json;
  check("keepIPAddress Never was sent", vmsnap?.spec?.keepIPAddress === "Never");
  await shot(alice, "vm-snapshots");

  // A changed provisioning Secret is a conflict for DryRun and Strict.
  const sec = await api("PATCH", `/api/v1/namespaces/${NS}/secrets/web-cloud-init`,
    { stringData: { userData: "#cloud-config\nhostname: changed\n" } }, "application/merge-patch+json");
  check("the Secret changed after the snapshot", sec.code === 200, sec.text.slice(0, 200));
  await vmsnapRow.getByRole("button", { name: "Restore" }).click();
  await alice.getByLabel("DryRun").check();
  await alice.getByRole("dialog").getByRole("button", { name: "Restore" }).click();
  const op = alice.getByRole("dialog").locator(".operation");
  check("the DryRun restore finishes", await waitText(op, /Failed|Completed/), await textOf(op));
  const conflictRow = alice.getByRole("dialog").locator("tr.conflict");
  const crow = await textOf(conflictRow);
  check("the DryRun shows the Secret's conflict in status.resources", /Secret/.test(crow) && /web-cloud-init/.test(crow) && /other data/.test(crow), crow);
  await shot(alice, "restore-dryrun-conflict");
  await alice.getByRole("dialog").getByRole("button", { name: "Close", exact: true }).click();
  await api("PATCH", `/api/v1/namespaces/${NS}/secrets/web-cloud-init`,
    { stringData: { userData: "#cloud-config\nhostname: web\n" } }, "application/merge-patch+json");
  const rootUid = (await get("virtualdisks", "web-root")).json.metadata.uid;
  await vmsnapRow.getByRole("button", { name: "Restore" }).click();
  await alice.getByLabel("Strict").check();
  await alice.getByRole("dialog").getByRole("button", { name: "Restore" }).click();
  check("the Strict restore completes", await waitText(alice.getByRole("dialog").locator(".operation"), /Completed/, 120000),
    await textOf(alice.getByRole("dialog").locator(".operation")));
  check("the restore replaced the VM's disk", (await get("virtualdisks", "web-root")).json?.metadata?.uid !== rootUid);
  await alice.getByRole("dialog").getByRole("button", { name: "Close", exact: true }).click();

  await alice.getByRole("tab", { name: "Overview" }).click();
  await alice.getByRole("button", { name: "Clone" }).click();
  await alice.getByLabel("Name prefix").fill("c-");
  await alice.getByRole("dialog").getByRole("button", { name: "Clone" }).click();
  check("the clone with a prefix completes", await waitText(alice.getByRole("dialog").locator(".operation"), /Completed/, 120000),
    await textOf(alice.getByRole("dialog").locator(".operation")));
  check("the clone exists: c-web with disk c-web-root",
    (await exists("virtualmachines", "c-web")) && (await exists("virtualdisks", "c-web-root")));
  await shot(alice, "clone");
  await alice.getByRole("dialog").getByRole("button", { name: "Close", exact: true }).click();

  // Clone from the snapshot (a VirtualMachineSnapshotOperation) with a suffix.
  await go(alice, `/p/${NS}/vms/web/snapshots`);
  await alice.locator('tr[data-name="ui-vmsnap"]').getByRole("button", { name: "Clone" }).click();
  await alice.getByLabel("Name suffix").fill("-from-snap");
  await alice.getByRole("dialog").getByRole("button", { name: "Clone", exact: true }).click();
  check("the clone from the snapshot completes",
    await waitText(alice.getByRole("dialog").locator(".operation"), /Completed/, 120000),
    await textOf(alice.getByRole("dialog").locator(".operation")));
  check("it made web-from-snap", await exists("virtualmachines", "web-from-snap"));
  await alice.getByRole("dialog").getByRole("button", { name: "Close", exact: true }).click();

  // --- 8. USB: an administrator assigns a node's device to the project -------------------------------
  section("8. USB devices");
  await go(admin, "/usb");
  const nodeRow = admin.locator("table[aria-label='Node USB devices'] tbody tr").first();
  check("the admin sees the node's device", await waitText(nodeRow, /node-1/, 30000), await textOf(nodeRow));
  const devName = await nodeRow.getAttribute("data-name");
  await nodeRow.locator("input[name=assignedNamespace]").fill(NS);
  await nodeRow.getByRole("button", { name: "Assign" }).click();
  check("the assignment shows in the list", await waitText(nodeRow, new RegExp(NS), 15000), await textOf(nodeRow));
  await shot(admin, "node-usb-devices");
  await go(alice, `/p/${NS}/usb`);
  const usbRow = alice.locator(`tr[data-name="${devName}"]`);
  check("the project's USBDevice appears for alice", await waitText(usbRow, /Webcam C920/, 30000), await textOf(alice.locator("main")));
  await shot(alice, "usb-devices");

  // A VM's USB devices: add the project's device to the stopped VM, see its entry, remove it.
  await go(alice, `/p/${NS}/vms/web/usb`);
  await alice.locator("select[name=usbDevice]").selectOption(devName);
  await alice.getByRole("button", { name: "Add", exact: true }).click();
  const vmUsbRow = alice.locator(`table[aria-label="VM USB devices"] tr[data-name="${devName}"]`);
  check("the VM lists the added USB device", await visible(vmUsbRow), await textOf(alice.locator("main")));
  const vmSpec = (await get("virtualmachines", "web")).json?.spec?.usbDevices || [];
  check("spec.usbDevices holds it", vmSpec.some((d) => d.name === devName), JSON.stringify(vmSpec));
  check("its status entry shows (Ready/Attached)", await waitText(vmUsbRow, /true|false/, 30000), await textOf(vmUsbRow));
  await shot(alice, "vm-usb-devices");
  await vmUsbRow.getByRole("button", { name: "Remove" }).click();
  check("Remove takes it off the VM", await waitText(alice.locator('table[aria-label="VM USB devices"]'), /No USB devices/, 15000));
  check("spec.usbDevices is empty again", ((await get("virtualmachines", "web")).json?.spec?.usbDevices || []).length === 0);

  // Events of an object, live on its page.
  await go(alice, `/p/${NS}/disk-images/ui-snap`);
  await alice.getByRole("tab", { name: "Events" }).click();
  check("the snapshot's events are listed", await waitText(alice.locator("section[aria-label=Events]"), /Ready/, 15000),
    await textOf(alice.locator("section[aria-label=Events]")));

  // --- 9. sign-out -----------------------------------------------------------------------------------
  section("9. sign-out");
  await alice.getByRole("button", { name: "Sign out" }).click();
  check("sign-out shows the sign-in form", await visible(alice.getByLabel("Access token")));
  check("and forgets the token", (await alice.evaluate(() => sessionStorage.length)) === 0);
  await alice.reload();
  check("a reload stays signed out", await visible(alice.getByLabel("Access token")));

  // --- 9b. keyboard only, and 200% zoom ------------------------------------------------------------
  section("9b. keyboard and zoom");
  // 200% zoom of a 1280x800 window is a 640x400 CSS-pixel viewport at device scale 2.
  const kctx = await browser.newContext({ ignoreHTTPSErrors: true, viewport: { width: 640, height: 400 }, deviceScaleFactor: 2 });
  const kb = await kctx.newPage();
  await kb.goto(URL + "/");
  await kb.getByLabel("Access token").waitFor();
  await kb.keyboard.press("Tab");  // the first focusable element is the token field
  check("Tab reaches the token field first", await kb.evaluate(() => document.activeElement?.getAttribute("name") === "token"));
  await kb.keyboard.type(env.ALICE_TOKEN);
  await kb.keyboard.press("Enter");
  check("Enter signs in", /alice/.test(await textOf(kb.getByTestId("who"))));
  await kb.goto(`${URL}/#/p/${NS}/disk-images`);
  await kb.getByRole("table", { name: "Disk snapshots" }).waitFor();
  const overflow = await kb.evaluate(() => document.scrollingElement.scrollWidth - window.innerWidth);
  check("at 200% zoom the list reflows without sideways scrolling", overflow <= 0, `${overflow}px wider`);
  // Keyboard: focus the create button, open the form with Enter, close it with Escape.
  await kb.getByRole("button", { name: "Create Disk Snapshot" }).focus();
  await kb.keyboard.press("Enter");
  check("Enter opens the form", await visible(kb.getByRole("dialog")));
  await kb.getByLabel("Disk Snapshot Name").focus();
  await kb.keyboard.press("Escape");
  check("Escape closes it", await kb.getByRole("dialog").count() === 0);
  await shot(kb, "zoom-200");
  await kctx.close();

  // --- 10. the browser's client certificate signs in without a token ---------------------------------
  section("10. client certificate");
  const certCtx = await browser.newContext({
    ignoreHTTPSErrors: true,
    clientCertificates: [{ origin: URL, certPath: `${env.BERTH_CERTS}/admin/tls.crt`, keyPath: `${env.BERTH_CERTS}/admin/tls.key` }],
  });
  const certPage = await certCtx.newPage();
  await certPage.goto(URL + "/");
  const certWho = await textOf(certPage.getByTestId("who"));
  check("a client certificate signs in as its CN, a cluster admin", /cluster admin/.test(certWho), certWho);
  await shot(certPage, "signed-in-by-certificate");

  check("no script errors in any page", pageErrors.length === 0, pageErrors.join("; "));
} catch (e) {
  failures++;
  console.log(`FAIL: the suite stopped: ${e.stack || e}`);
} finally {
  await browser.close();
}
console.log(`${failures === 0 ? "PASS" : "FAIL"}: console browser suite (${checks} checks, ${failures} failed, ${((Date.now() - T0) / 1000).toFixed(1)} s)`);
process.exit(failures === 0 ? 0 : 1);
