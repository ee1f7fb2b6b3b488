/**
 * How a fleet operation shows its progress: a live per-Mac display on a terminal (log-update),
 * one plain line per finished Mac otherwise, and a closing table either way.
 */
import { createLogUpdate } from "log-update";
import type { MacResult, Operation } from "./operations.js";

export interface Progress {
  /** A Mac started (result undefined) or ended. */
  update(name: string, result?: MacResult): void;
  /** Stops the live display. */
  done(): void;
}

/** Live progress for `names` on `stream`: redrawn in place on a TTY, plain lines otherwise. */
export function progressDisplay(operation: Operation, names: readonly string[], stream: NodeJS.WriteStream): Progress {
  const state = new Map<string, MacResult | "running" | "waiting">(names.map((n) => [n, "waiting"]));
  // A terminal of unknown size (rows 0, as under `script`) cannot be redrawn in place.
  if (!stream.isTTY || !(stream.rows > 0)) {
    return {
      update(name, result) {
        if (result) stream.write(`${name}: ${result.outcome}: ${result.summary}\n`);
      },
      done() {},
    };
  }
  const render = createLogUpdate(stream);
  const width = Math.max(...names.map((n) => n.length), 4);
  const draw = () => {
    const values = [...state.values()];
    const count = (what: string) => values.filter((v) => (typeof v === "string" ? v : v.outcome) === what).length;
    const totals = `mac-postfix ${operation}: ${count("done")} done, ${count("drift")} drift, ${count("failed")} failed, ${count("running")} running, ${count("waiting")} waiting`;
    const lines = [...state].map(([name, v]) => `  ${name.padEnd(width)}  ${typeof v === "string" ? v : `${v.outcome.padEnd(7)}  ${v.summary}`}`);
    // Totals last: log-update drops the top lines of a display taller than the terminal.
    render([...lines, totals].join("\n"));
  };
  draw();
  return {
    update(name, result) {
      state.set(name, result ?? "running");
      draw();
    },
    done() {
      render.clear();
      render.done();
    },
  };
}

/** The closing table: one row a Mac, each verify difference under its Mac, and the totals. */
export function resultTable(operation: Operation, results: readonly MacResult[]): string {
  const width = Math.max(...results.map((r) => r.name.length), 3);
  const rows = results.flatMap((r) => [`${r.name.padEnd(width)}  ${r.outcome.padEnd(6)}  ${r.summary}`, ...r.differences.map((d) => `${" ".repeat(width + 2)}- ${d}`)]);
  const total = (outcome: MacResult["outcome"]) => results.filter((r) => r.outcome === outcome).length;
  return [
    `${"MAC".padEnd(width)}  ${"RESULT"}  DETAIL`,
    ...rows,
    `${operation}: ${results.length} Mac${results.length === 1 ? "" : "s"}: ${total("done")} done, ${total("drift")} drift, ${total("failed")} failed`,
  ].join("\n");
}
