/** Rows as pyarrow's `to_pylist()` gives them (snake_case columns), in the TypeScript reader's event shape. */
export function fromPythonRows(rows: readonly Record<string, unknown>[]) {
  return rows.map((r) => ({
    userId: r.user_id,
    itemId: r.item_id,
    action: r.action,
    surface: r.surface,
    ts: r.ts,
    durationMs: r.duration_ms,
  }));
}
