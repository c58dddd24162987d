// Routes live in the URL fragment: #/p/PROJECT/SECTION[/NAME[/TAB]], #/usb[/NAME], #/.
export interface Route {
  ns?: string;
  section: string;  // projects, disk-images, disks, vms, usb, node-usb
  name?: string;
  tab?: string;
}

export function parseRoute(hash: string): Route {
  const seg = hash.replace(/^#\/?/, "").split("/").filter(Boolean).map(decodeURIComponent);
  if (seg[0] === "usb") return { section: "node-usb", name: seg[1] };
  if (seg[0] === "p" && seg[1]) {
    return { ns: seg[1], section: seg[2] || "vms", name: seg[3], tab: seg[4] };
  }
  return { section: "projects" };
}

export function href(r: Route): string {
  if (r.section === "node-usb") return r.name ? `#/usb/${encodeURIComponent(r.name)}` : "#/usb";
  if (!r.ns) return "#/";
  const parts = ["p", r.ns, r.section, r.name, r.tab].filter((x): x is string => !!x);
  return "#/" + parts.map(encodeURIComponent).join("/");
}

