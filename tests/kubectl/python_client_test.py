#!/usr/bin/python3
"""The Kubernetes Python client (Debian's python3-kubernetes) against Berth's Kubernetes API.

  python_client_test.py KUBECONFIG NAMESPACE EXISTING_SNAPSHOT DISK

Dynamic-client list, a watch that sees a change made while it runs, create, merge patch, and the
status subresource (replace_status, patch_status) of a VirtualDiskSnapshot. Prints one PASS/FAIL
line per check; exits 1 if any check failed.
"""
import sys
import threading
import time

from kubernetes import client, config, dynamic, watch
from kubernetes.client.rest import ApiException

G, V, P = "virtualization.deckhouse.io", "v1alpha2", "virtualdisksnapshots"
kubeconfig, ns, existing, disk = sys.argv[1:5]
failures = 0


def check(what, ok, detail=""):
    global failures
    if ok:
        print(f"PASS: python: {what}")
    else:
        failures += 1
        print(f"FAIL: python: {what}: {detail}")


def attempt(what, fn):
    try:
        return fn()
    except Exception as e:  # noqa: BLE001 - every client error is a failed check
        check(what, False, f"{type(e).__name__}: {getattr(e, 'body', None) or e}")
        return None


config.load_kube_config(kubeconfig)
api = client.ApiClient()
co = client.CustomObjectsApi(api)
dyn = attempt("dynamic client discovery", lambda: dynamic.DynamicClient(api))
vds = dyn and attempt("dynamic resource lookup", lambda: dyn.resources.get(
    api_version=f"{G}/{V}", kind="VirtualDiskSnapshot"))

# list
if vds:
    lst = attempt("dynamic list", lambda: vds.get(namespace=ns))
    if lst:
        names = [i.metadata.name for i in lst.items]
        check("dynamic list names the existing snapshot", existing in names, names)
        check("list kind", lst.kind == "VirtualDiskSnapshotList", lst.kind)

# create
name = "py-snap"
body = {"apiVersion": f"{G}/{V}", "kind": "VirtualDiskSnapshot",
        "metadata": {"name": name, "labels": {"made-by": "python"}},
        "spec": {"virtualDiskName": disk, "requiredConsistency": False}}
created = vds and attempt("dynamic create", lambda: vds.create(body=body, namespace=ns))
if created:
    check("create returns the object", created.metadata.name == name and
          created.metadata.uid, created.metadata)
obj = None
for _ in range(100):  # until the controller has taken the snapshot
    obj = attempt("get", lambda: co.get_namespaced_custom_object(G, V, ns, P, name))
    if not obj or obj.get("status", {}).get("phase") == "Ready":
        break
    time.sleep(0.1)
check("the created snapshot becomes Ready", obj and obj.get("status", {}).get("phase") == "Ready",
      obj and obj.get("status"))

# watch: started at the current resourceVersion, it must see the label set below.
seen = []
rv = obj["metadata"]["resourceVersion"] if obj else "0"


def watcher():
    w = watch.Watch()
    try:
        for ev in w.stream(co.list_namespaced_custom_object, G, V, ns, P,
                           resource_version=rv, timeout_seconds=15):
            o = ev["object"]
            if o["metadata"]["name"] == name and \
                    o["metadata"].get("labels", {}).get("watched") == "yes":
                seen.append(ev["type"])
                w.stop()
    except Exception as e:  # noqa: BLE001
        seen.append(f"error {e}")


t = threading.Thread(target=watcher, daemon=True)
t.start()
time.sleep(0.5)

# merge patch (the dynamic client's default for a dict is a JSON merge patch here)
patched = vds and attempt("merge patch", lambda: vds.patch(
    name=name, namespace=ns, body={"metadata": {"labels": {"watched": "yes"}}},
    content_type="application/merge-patch+json"))
if patched:
    patched = patched.to_dict()
    labels = patched["metadata"].get("labels", {})
    check("merge patch adds the label and keeps the others",
          labels.get("watched") == "yes" and labels.get("made-by") == "python", labels)
    phase = patched.get("status", {}).get("phase")
    check("merge patch of metadata keeps .status (status subresource)", phase == "Ready",
          f"status in the response: {patched.get('status')}")
t.join(20)
check("watch receives the change", seen and seen[0] == "MODIFIED", seen)

# status subresource: replace_status changes .status and ignores .spec
for _ in range(50):  # the controller may be rewriting the status after the patch above
    cur = attempt("get before replace_status",
                  lambda: co.get_namespaced_custom_object(G, V, ns, P, name))
    if not cur or cur.get("status", {}).get("phase") == "Ready":
        break
    time.sleep(0.1)
if cur and cur.get("status"):
    cur["status"]["conditions"][0]["message"] = "replaced by python"
    cur["spec"]["requiredConsistency"] = True
    r = attempt("replace_status", lambda: co.replace_namespaced_custom_object_status(
        G, V, ns, P, name, cur))
    if r:
        conds = r.get("status", {}).get("conditions", [])
        check("replace_status stores the new status",
              bool(conds) and conds[0].get("message") == "replaced by python",
              f"status in the response: {r.get('status')}")
        check("replace_status ignores spec changes",
              r["spec"]["requiredConsistency"] is False, r["spec"])
elif cur:
    check("status present before replace_status", False, cur)

cur = attempt("get before patch_status", lambda: co.get_namespaced_custom_object(G, V, ns, P, name))
if cur and cur.get("status", {}).get("conditions"):
    # A harmless change (a condition's message): the controller reads other status fields.
    conds = cur["status"]["conditions"]
    conds[-1]["message"] = "patched by python"
    r = attempt("patch_status", lambda: co.patch_namespaced_custom_object_status(
        G, V, ns, P, name, {"status": {"conditions": conds}}))
    if r:
        st = r.get("status", {})
        check("patch_status merges into the status",
              (st.get("conditions") or [{}])[-1].get("message") == "patched by python" and
              st.get("phase") == cur["status"].get("phase"), f"status in the response: {st}")

# clean up
if vds:
    attempt("delete", lambda: vds.delete(name=name, namespace=ns))
    for _ in range(100):
        try:
            co.get_namespaced_custom_object(G, V, ns, P, name)
            time.sleep(0.1)
        except ApiException as e:
            check("deleted object is NotFound (404)", e.status == 404, e.status)
            break
    else:
        check("deleted object goes away", False, "still there after 10 s")

sys.exit(1 if failures else 0)
