/** Small DOM builders: no innerHTML anywhere, so nothing from the API is ever parsed as markup. */

type Attrs = Record<string, string | number | boolean | null | undefined>
type Child = Node | string | null | undefined | false

const SVG_NS = 'http://www.w3.org/2000/svg'

function fill(el: Element, attrs: Attrs, children: Child[]): void {
  for (const [name, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) continue
    el.setAttribute(name, value === true ? '' : String(value))
  }
  for (const c of children) if (c !== null && c !== undefined && c !== false) el.append(c)
}

/** An HTML element with attributes and children. */
export function h<K extends keyof HTMLElementTagNameMap>(tag: K, attrs: Attrs = {}, ...children: Child[]): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag)
  fill(el, attrs, children)
  return el
}

/** An SVG element with attributes and children. */
export function s<K extends keyof SVGElementTagNameMap>(tag: K, attrs: Attrs = {}, ...children: Child[]): SVGElementTagNameMap[K] {
  const el = document.createElementNS(SVG_NS, tag)
  fill(el, attrs, children)
  return el
}

/** Sets an element's text only when it differs (keeps the DOM quiet for observers and tests). */
export function setText(el: Element | null, text: string): void {
  if (el !== null && el.textContent !== text) el.textContent = text
}

/** Sets an attribute only when it differs. */
export function setAttr(el: Element, name: string, value: string): void {
  if (el.getAttribute(name) !== value) el.setAttribute(name, value)
}
