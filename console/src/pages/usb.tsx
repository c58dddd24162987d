// USB devices: every node's NodeUSBDevices for administrators (assign one to a project), a
// project's USBDevices, and a VM's USB devices with hot-plug add and remove.
import { useState } from "preact/hooks";
import { ApiError, Obj, age, condition, pathOf, request } from "../api";
import { Route, href } from "../route";
import { Detail } from "../detail";
import { ErrorBox, LiveTable } from "../ui";
import { useLive } from "../watch";

const MERGE = "application/merge-patch+json";

function status(o: Obj, type: string): string {
  return condition(o, type)?.status || "";
}

function Assign({ o }: { o: Obj }) {
  const namespaces = useLive(pathOf("namespaces"));
  const [ns, setNs] = useState(o.spec?.assignedNamespace || "");
  const [error, setError] = useState<ApiError | null>(null);
  const save = async (value: string | null) => {
    setError(null);
    try {
      await request("PATCH", pathOf("nodeusbdevices", undefined, o.metadata.name),
        { metadata: { resourceVersion: o.metadata.resourceVersion }, spec: { assignedNamespace: value } }, MERGE);
    } catch (e) {
      setError(e as ApiError);
    }
  };
  return (
    <form class="assign" onSubmit={(e) => { e.preventDefault(); void save(ns || null); }}>
      <label>
        Project{" "}
        <input list={`ns-${o.metadata.name}`} name="assignedNamespace" value={ns} onInput={(e) => setNs((e.target as HTMLInputElement).value)} />
      </label>
      <datalist id={`ns-${o.metadata.name}`}>
        {namespaces.items.map((n) => (
          <option value={n.metadata.name} />
        ))}
      </datalist>
      <button type="submit">Assign</button>{" "}
      {o.spec?.assignedNamespace && (
        <button type="button" onClick={() => { setNs(""); void save(null); }}>
          Unassign
        </button>
      )}
      <ErrorBox error={error} />
    </form>
  );
}

export function NodeUsbDevices({ route }: { route: Route }) {
  const live = useLive(pathOf("nodeusbdevices"));
  if (route.name) {
    return (
      <Detail plural="nodeusbdevices" kind="NodeUSBDevice" name={route.name} backHref={href({ section: "node-usb" })}
        overview={(o) => <Assign o={o} />} />
    );
  }
  return (
    <section>
      <h1>USB devices of every node</h1>
      <LiveTable
        label="Node USB devices"
        live={live}
        empty="No USB devices on any node."
        href={(o) => href({ section: "node-usb", name: o.metadata.name })}
        columns={[
          { title: "Node", cell: (o) => o.status?.nodeName },
          { title: "Ready", cell: (o) => status(o, "Ready") },
          { title: "Assigned", cell: (o) => status(o, "Assigned") },
          { title: "Namespace", cell: (o) => o.spec?.assignedNamespace },
          { title: "Product", cell: (o) => o.status?.attributes?.product },
          { title: "Age", cell: (o) => age(o.metadata.creationTimestamp) },
          { title: "Assign to project", cell: (o) => <Assign o={o} /> },
        ]}
      />
    </section>
  );
}

export function ProjectUsbDevices({ ns }: { ns: string }) {
  const live = useLive(pathOf("usbdevices", ns));
  return (
    <section>
      <h1>USB Devices</h1>
      <LiveTable
        label="USB devices"
        live={live}
        empty="No USB devices are assigned to this project."
        href={(o) => href({ ns, section: "usb", name: o.metadata.name })}
        columns={[
          { title: "Node", cell: (o) => o.status?.nodeName },
          { title: "Manufacturer", cell: (o) => o.status?.attributes?.manufacturer },
          { title: "Product", cell: (o) => o.status?.attributes?.product },
          { title: "Serial", cell: (o) => o.status?.attributes?.serial },
          { title: "Attached", cell: (o) => status(o, "Attached") },
          { title: "VendorID", cell: (o) => o.status?.attributes?.vendorID },
          { title: "ProductID", cell: (o) => o.status?.attributes?.productID },
          { title: "Bus", cell: (o) => o.status?.attributes?.bus },
          { title: "DeviceNumber", cell: (o) => o.status?.attributes?.deviceNumber },
          { title: "Age", cell: (o) => age(o.metadata.creationTimestamp) },
        ]}
      />
    </section>
  );
}

// A VM's USB devices: spec.usbDevices with what status.usbDevices says of each; adding or
// removing one is a merge patch of spec.usbDevices guarded by the VM's resourceVersion.
export function VmUsbDevices({ vm }: { vm: Obj }) {
  const ns = vm.metadata.namespace!;
  const devices = useLive(pathOf("usbdevices", ns));
  const [pick, setPick] = useState("");
  const [error, setError] = useState<ApiError | null>(null);
  const wanted: string[] = (vm.spec?.usbDevices || []).map((d: any) => d.name);
  const reported = new Map<string, any>((vm.status?.usbDevices || []).map((d: any) => [d.name, d]));
  const write = async (names: string[]) => {
    setError(null);
    try {
      await request("PATCH", pathOf("virtualmachines", ns, vm.metadata.name),
        { metadata: { resourceVersion: vm.metadata.resourceVersion }, spec: { usbDevices: names.map((name) => ({ name })) } }, MERGE);
      setPick("");
    } catch (e) {
      setError(e as ApiError);
    }
  };
  return (
    <section aria-label="USB devices of the VM">
      <table aria-label="VM USB devices">
        <thead>
          <tr>
            <th scope="col">Name</th>
            <th scope="col">Ready</th>
            <th scope="col">Attached</th>
            <th scope="col">Address</th>
            <th scope="col">Message</th>
            <th scope="col"></th>
          </tr>
        </thead>
        <tbody>
          {wanted.length === 0 && (
            <tr>
              <td colSpan={6} class="empty">No USB devices.</td>
            </tr>
          )}
          {wanted.map((name) => {
            const r = reported.get(name) || {};
            return (
              <tr data-name={name}>
                <th scope="row">{name}</th>
                <td>{r.ready === undefined ? "" : String(r.ready)}</td>
                <td>{r.attached === undefined ? "" : String(r.attached)}</td>
                <td>{r.address ? `bus ${r.address.bus}, port ${r.address.port}` : ""}</td>
                <td>{r.reason || r.message || ""}</td>
                <td>
                  <button type="button" onClick={() => write(wanted.filter((n) => n !== name))}>
                    Remove
                  </button>
                </td>
              </tr>
            );
          })}
        </tbody>
      </table>
      <form class="add-usb" onSubmit={(e) => { e.preventDefault(); if (pick) void write([...wanted, pick]); }}>
        <label>
          USB device{" "}
          <select name="usbDevice" value={pick} onChange={(e) => setPick((e.target as HTMLSelectElement).value)}>
            <option value="">Select a device</option>
            {devices.items.filter((d) => !wanted.includes(d.metadata.name)).map((d) => (
              <option value={d.metadata.name}>
                {d.metadata.name} ({d.status?.attributes?.product || "?"} on {d.status?.nodeName || "?"})
              </option>
            ))}
          </select>
        </label>{" "}
        <button type="submit" disabled={!pick}>
          Add
        </button>
      </form>
      <ErrorBox error={error} />
    </section>
  );
}
