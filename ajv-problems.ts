/** Helpers shared by the registry and rules loaders for turning ajv errors into messages that name the place. */

/** The parts of a JSON pointer (ajv's `instancePath`), `~1` and `~0` decoded; `[]` for `''`. */
export function decodePointer(pointer: string): string[] {
  if (pointer === '') return []
  return pointer
    .slice(1)
    .split('/')
    .map((part) => part.replace(/~1/g, '/').replace(/~0/g, '~'))
}

/** The value at `parts` under `root`, or undefined when the path leaves the objects. */
export function valueAt(root: unknown, parts: readonly string[]): unknown {
  let node = root
  for (const part of parts) {
    if (node === null || typeof node !== 'object') return undefined
    node = (node as Record<string, unknown>)[part]
  }
  return node
}

/** The path as a reader writes it, e.g. `levels.orange[0]`. */
export function dotted(parts: readonly string[]): string {
  let out = ''
  for (const part of parts) out += /^[0-9]+$/.test(part) ? `[${part}]` : out === '' ? part : `.${part}`
  return out
}
