import { h, setAttr, setText } from '../dom.js'
import { formatTime, lotText } from '../format.js'
import { t, type Lang } from '../i18n.js'
import type { Board, Lot } from '../types.js'

/** A board line's live text and status: from the lot's latest state, else what the board last published. */
export function boardLine(line: Board['lines'][number], lot: Lot | undefined): { text: string; status: string } {
  if (lot !== undefined) return { text: lotText(lot), status: lot.status }
  return { text: line.text, status: line.text === 'CLOSED' ? 'closed' : line.text === 'FULL' ? 'full' : 'unknown' }
}

/** The `#parking` section: one LED-style guidance board per registry board, lines updated from the lots. */
export function createParkingView(root: HTMLElement): { render(boards: readonly Board[], lots: ReadonlyMap<string, Lot>, lang: Lang): void } {
  const totals = h('p', { class: 'parking-totals', 'data-role': 'totals' })
  const grid = h('div', { class: 'board-grid' })
  root.append(totals, grid)
  const els = new Map<string, HTMLElement>()
  return {
    render(boards, lots, lang) {
      let free = 0
      let latest = ''
      for (const lot of lots.values()) {
        if (lot.status !== 'closed') free += Math.max(0, lot.free)
        if (lot.updatedAt > latest) latest = lot.updatedAt
      }
      setText(totals, lots.size === 0 ? '' : `${t(lang, 'free')} ${free} · ${t(lang, 'updated')} ${formatTime(lang, latest)}`)
      const seen = new Set<string>()
      for (const board of boards) {
        seen.add(board.board)
        let el = els.get(board.board)
        if (el === undefined) {
          el = h('div', { class: 'board', 'data-testid': 'board', 'data-board': board.board })
          els.set(board.board, el)
          grid.append(el)
        }
        const rows = board.lines.map((line) => {
          const { text, status } = boardLine(line, lots.get(line.lot))
          return h(
            'li',
            { class: `board-line st-${status}`, 'data-lot': line.lot, 'data-status': status, title: line.name },
            h('span', { class: 'lot-name' }, lots.get(line.lot)?.name ?? line.name),
            h('span', { class: 'lot-free' }, text),
          )
        })
        const signature = rows.map((r) => `${r.dataset.lot}:${r.dataset.status}:${r.textContent}`).join('|')
        if (el.dataset.signature !== signature) {
          el.replaceChildren(h('div', { class: 'board-name' }, board.name, h('span', { class: 'board-id' }, board.board)), h('ul', { class: 'board-lines' }, ...rows))
          setAttr(el, 'data-signature', signature)
        }
      }
      for (const [id, el] of els) {
        if (seen.has(id)) continue
        el.remove()
        els.delete(id)
      }
    },
  }
}
