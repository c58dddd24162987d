// Small building blocks shared by the pages: errors in the server's words, phases, tables,
// form fields and tabs. Everything is plain HTML elements, so keyboard and zoom just work.
import { ComponentChildren } from "preact";
import { useState } from "preact/hooks";
import { ApiError, Obj } from "./api";
import { Live } from "./watch";

export function ErrorBox({ error }: { error: ApiError | Error | string | null }) {
  if (!error) return null;
  const message = typeof error === "string" ? error : error.message;
  const causes = error instanceof ApiError ? error.causes : [];
  return (
    <div class="error" role="alert">
      <p>{message}</p>
      {causes.length > 0 && (
        <ul>
          {causes.map((c) => (
            <li>
              {c.field ? <code>{c.field}</code> : null} {c.message}
            </li>
          ))}
        </ul>
      )}
    </div>
  );
}

export function Phase({ o }: { o: Obj }) {
  const phase: string = o.metadata.deletionTimestamp ? "Terminating" : o.status?.phase || "Pending";
  return <span class={`phase phase-${phase.toLowerCase()}`}>{phase}</span>;
}

export interface Column {
  title: string;
  cell: (o: Obj) => ComponentChildren;
}

const PAGE = 100;

// A list of objects with a name filter and pages of 100 rows, so 10,000 objects render fast.
export function ObjectTable({
  items,
  columns,
  href,
  label,
  empty,
  more = false,
}: {
  items: Obj[];
  columns: Column[];
  href: (o: Obj) => string;
  label: string;
  empty: string;
  more?: boolean;  // later pages of the list are still coming
}) {
  const [filter, setFilter] = useState("");
  const [page, setPage] = useState(0);
  const shown = filter ? items.filter((o) => o.metadata.name.includes(filter)) : items;
  const pages = Math.max(1, Math.ceil(shown.length / PAGE));
  const p = Math.min(page, pages - 1);
  const rows = shown.slice(p * PAGE, (p + 1) * PAGE);
  return (
    <div class="object-table">
      <div class="table-tools">
        <label>
          Filter by name{" "}
          <input
            type="search"
            value={filter}
            onInput={(e) => {
              setFilter((e.target as HTMLInputElement).value);
              setPage(0);
            }}
          />
        </label>
        <span class="count" aria-live="polite">
          {shown.length} {shown.length === 1 ? "object" : "objects"}
          {more ? ", loading more…" : ""}
        </span>
      </div>
      <table aria-label={label}>
        <thead>
          <tr>
            <th scope="col">Name</th>
            {columns.map((c) => (
              <th scope="col">{c.title}</th>
            ))}
          </tr>
        </thead>
        <tbody>
          {rows.length === 0 && (
            <tr>
              <td colSpan={columns.length + 1} class="empty">
                {empty}
              </td>
            </tr>
          )}
          {rows.map((o) => (
            <tr key={o.metadata.uid || o.metadata.name} data-name={o.metadata.name}>
              <th scope="row">
                <a href={href(o)}>{o.metadata.name}</a>
              </th>
              {columns.map((c) => (
                <td>{c.cell(o)}</td>
              ))}
            </tr>
          ))}
        </tbody>
      </table>
      {pages > 1 && (
        <nav class="pager" aria-label="pages">
          <button type="button" disabled={p === 0} onClick={() => setPage(p - 1)}>
            Previous
          </button>
          <span>
            Page {p + 1} of {pages}
          </span>
          <button type="button" disabled={p >= pages - 1} onClick={() => setPage(p + 1)}>
            Next
          </button>
        </nav>
      )}
    </div>
  );
}

export function Field({ label, children, hint }: { label: string; children: ComponentChildren; hint?: string }) {
  return (
    <label class="field">
      <span class="field-label">{label}</span>
      {children}
      {hint && <span class="hint">{hint}</span>}
    </label>
  );
}

export function Switch({
  label,
  checked,
  onChange,
}: {
  label: string;
  checked: boolean;
  onChange: (v: boolean) => void;
}) {
  return (
    <label class="switch">
      <input
        type="checkbox"
        role="switch"
        checked={checked}
        onChange={(e) => onChange((e.target as HTMLInputElement).checked)}
      />
      <span>{label}</span>
    </label>
  );
}

export function Tabs({
  tabs,
  current,
  onSelect,
}: {
  tabs: { id: string; title: string }[];
  current: string;
  onSelect: (id: string) => void;
}) {
  return (
    <div class="tabs" role="tablist">
      {tabs.map((t) => (
        <button
          type="button"
          role="tab"
          aria-selected={t.id === current}
          class={t.id === current ? "tab current" : "tab"}
          onClick={() => onSelect(t.id)}
        >
          {t.title}
        </button>
      ))}
    </div>
  );
}

export function Dialog({ title, children, onClose }: { title: string; children: ComponentChildren; onClose: () => void }) {
  return (
    <div class="dialog-backdrop">
      <section class="dialog" role="dialog" aria-modal="true" aria-label={title}
        onKeyDown={(e) => e.key === "Escape" && onClose()}>
        <header>
          <h2>{title}</h2>
          <button type="button" class="close" aria-label="Close dialog" onClick={onClose}>
            ×
          </button>
        </header>
        {children}
      </section>
    </div>
  );
}

// The end of every form: the server's error, then submit and cancel.
export function FormActions({
  error,
  submit,
  cancel = "Cancel",
  disabled = false,
  onCancel,
}: {
  error: ApiError | Error | string | null;
  submit: string;
  cancel?: string;
  disabled?: boolean;
  onCancel: () => void;
}) {
  return (
    <>
      <ErrorBox error={error} />
      <div class="actions">
        <button type="submit" disabled={disabled}>
          {submit}
        </button>
        <button type="button" onClick={onCancel}>
          {cancel}
        </button>
      </div>
    </>
  );
}

// A live list: its error, if any, above the table; "Loading…" until the first page is in.
export function LiveTable({
  live,
  empty,
  label,
  columns,
  href,
}: {
  live: Live;
  empty: string;
  label: string;
  columns: Column[];
  href: (o: Obj) => string;
}) {
  return (
    <>
      <ErrorBox error={live.error} />
      <ObjectTable
        label={label}
        items={live.items}
        more={live.loaded && !live.complete}
        empty={live.loaded ? empty : "Loading…"}
        href={href}
        columns={columns}
      />
    </>
  );
}
