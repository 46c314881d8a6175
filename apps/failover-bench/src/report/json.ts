/** results.json, printed compactly: short arrays and objects on one line. */

/** Longest line before a value is broken over several. */
const LINE_WIDTH = 110;

function flatJson(value: unknown): string {
  if (Array.isArray(value)) return value.length === 0 ? "[]" : `[${value.map(flatJson).join(", ")}]`;
  if (typeof value === "object" && value !== null) {
    const entries = Object.entries(value).filter(([, item]) => item !== undefined);
    return entries.length === 0
      ? "{}"
      : `{ ${entries.map(([key, item]) => `${JSON.stringify(key)}: ${flatJson(item)}`).join(", ")} }`;
  }
  return JSON.stringify(value) ?? "null";
}

function printJson(value: unknown, indent: number, used: number): string {
  const flat = flatJson(value);
  if (used + flat.length <= LINE_WIDTH || typeof value !== "object" || value === null) return flat;
  const pad = "  ".repeat(indent + 1);
  if (Array.isArray(value) && value.length > 0 && value.every((item) => typeof item === "number")) {
    // Biome fills an array of numbers: as many per line as fit, not one per line.
    const lines: string[] = [];
    let line = "";
    value.forEach((item, index) => {
      const text = `${JSON.stringify(item)}${index < value.length - 1 ? "," : ""}`;
      if (line !== "" && pad.length + line.length + 1 + text.length > LINE_WIDTH) {
        lines.push(pad + line);
        line = text;
      } else line = line === "" ? text : `${line} ${text}`;
    });
    lines.push(pad + line);
    return `[\n${lines.join("\n")}\n${"  ".repeat(indent)}]`;
  }
  const items: string[] = Array.isArray(value)
    ? value.map((item, index) => {
        const comma = index < value.length - 1 ? 1 : 0;
        return pad + printJson(item, indent + 1, pad.length + comma);
      })
    : Object.entries(value)
        .filter(([, item]) => item !== undefined)
        .map(([key, item], index, all) => {
          const head = `${pad}${JSON.stringify(key)}: `;
          const comma = index < all.length - 1 ? 1 : 0;
          return head + printJson(item, indent + 1, head.length + comma);
        });
  const [open, close] = Array.isArray(value) ? ["[", "]"] : ["{", "}"];
  return `${open}\n${items.join(",\n")}\n${"  ".repeat(indent)}${close}`;
}

/** JSON laid out the way the repository's formatter (Biome, 110 columns) lays it out, so lint passes. */
export function formatJson(value: unknown): string {
  return `${printJson(value, 0, 0)}\n`;
}
