import { h, setText } from '../dom.js'
import { formatNumber, formatTime, sortAlerts } from '../format.js'
import { label, t, type Lang } from '../i18n.js'
import type { Alert } from '../types.js'

/** Alerts about the engine itself (not rule alerts: nothing to acknowledge). */
const ENGINE_DISTRICT = '_engine'

/** An acknowledge or resolve request; resolves to the updated alert or rejects with the API's message. */
export type AlertAction = (alert: Alert, action: 'ack' | 'resolve', note: string) => Promise<Alert>

function alertBody(a: Alert, lang: Lang, onAction: (a: Alert, action: 'ack' | 'resolve') => void): HTMLElement[] {
  const engine = a.district === ENGINE_DISTRICT
  const meta: string[] = []
  if (a.value !== null || a.threshold !== null) meta.push(`${t(lang, 'value')} ${formatNumber(a.value)} / ${t(lang, 'threshold')} ${formatNumber(a.threshold)}`)
  if (a.etaMinutes !== null && a.etaMinutes !== undefined) meta.push(t(lang, 'eta', { n: Math.round(a.etaMinutes) }))
  meta.push(`${t(lang, 'raisedAt')} ${formatTime(lang, a.raisedAt)}`)
  if (a.ackedBy) meta.push(`${t(lang, 'acknowledged')}: ${a.ackedBy}`)
  const button = (action: 'ack' | 'resolve', disabled: boolean) => {
    const b = h('button', { type: 'button', class: `btn btn-${action}`, 'data-action': action, disabled }, t(lang, action))
    b.addEventListener('click', () => onAction(a, action))
    return b
  }
  return [
    h(
      'div',
      { class: 'alert-head' },
      h('span', { class: 'alert-level', 'data-role': 'level' }, label(lang, a.level)),
      h('span', { class: 'alert-rule', 'data-role': 'rule' }, a.rule),
      h('span', { class: 'alert-subject', 'data-role': 'subject' }, engine ? t(lang, 'engine') : a.subject),
      h('span', { class: `alert-state state-${a.state}`, 'data-role': 'state' }, label(lang, a.state)),
      a.flapping ? h('span', { class: 'alert-flapping' }, t(lang, 'flapping')) : null,
    ),
    h('div', { class: 'alert-message', 'data-role': 'message' }, a.message),
    h('div', { class: 'alert-meta', 'data-role': 'meta' }, meta.join(' · ')),
    engine ? null : h('div', { class: 'alert-actions' }, button('ack', a.state !== 'open'), button('resolve', false)),
  ].filter((n) => n !== null)
}

/** The `#alerts` list with its acknowledge/resolve dialog. */
export function createAlertsView(root: HTMLElement, act: AlertAction, onResult: (alert: Alert) => void): { render(alerts: Iterable<Alert>, lang: Lang): void } {
  const list = h('ul', { class: 'alert-list' })
  const empty = h('p', { class: 'empty', 'data-role': 'empty' })
  root.append(empty, list)
  const items = new Map<string, { el: HTMLElement; version: string }>()
  let lang: Lang = 'zh-CN'

  const title = h('h3', { class: 'dialog-title' })
  const subject = h('p', { class: 'dialog-subject' })
  const noteLabel = h('label', { class: 'dialog-label', for: 'alert-note' })
  const note = h('textarea', { name: 'note', id: 'alert-note', rows: 3, maxlength: 2000 })
  const error = h('p', { class: 'dialog-error', 'data-role': 'error', role: 'alert' })
  const cancel = h('button', { type: 'button', class: 'btn', 'data-action': 'cancel' })
  const confirm = h('button', { type: 'button', class: 'btn btn-primary', 'data-action': 'confirm' })
  const dialog = h('dialog', { class: 'alert-dialog', 'data-testid': 'alert-dialog' }, title, subject, noteLabel, note, error, h('div', { class: 'dialog-actions' }, cancel, confirm))
  document.body.append(dialog)
  let pending: { alert: Alert; action: 'ack' | 'resolve' } | undefined

  const openDialog = (alert: Alert, action: 'ack' | 'resolve') => {
    pending = { alert, action }
    setText(title, t(lang, action === 'ack' ? 'ackTitle' : 'resolveTitle'))
    setText(subject, `${alert.rule} · ${alert.subject} — ${alert.message}`)
    setText(noteLabel, t(lang, 'note'))
    setText(cancel, t(lang, 'cancel'))
    setText(confirm, t(lang, action))
    setText(error, '')
    note.value = ''
    confirm.disabled = false
    dialog.dataset.action = action
    dialog.dataset.forAlert = alert.id
    dialog.showModal()
    note.focus()
  }
  cancel.addEventListener('click', () => dialog.close())
  dialog.addEventListener('close', () => {
    pending = undefined
  })
  confirm.addEventListener('click', () => {
    const p = pending
    if (p === undefined) return
    confirm.disabled = true
    setText(error, '')
    act(p.alert, p.action, note.value).then(
      (updated) => {
        onResult(updated)
        if (pending === p) dialog.close()
      },
      (err: unknown) => {
        confirm.disabled = false
        setText(error, t(lang, 'actionFailed', { msg: err instanceof Error ? err.message : String(err) }))
      },
    )
  })

  return {
    render(alerts, nextLang) {
      lang = nextLang
      const sorted = sortAlerts(alerts)
      setText(empty, sorted.length === 0 ? t(lang, 'noAlerts') : '')
      empty.hidden = sorted.length > 0
      const seen = new Set<string>()
      let previous: Element | null = null
      for (const a of sorted) {
        seen.add(a.id)
        const version = `${lang}|${a.updatedAt}|${a.state}|${a.level}|${a.message}|${a.etaMinutes}|${a.ackedBy}|${a.flapping}`
        let item = items.get(a.id)
        if (item === undefined) {
          item = { el: h('li', { class: 'alert', 'data-testid': 'alert', 'data-alert-id': a.id }), version: '' }
          items.set(a.id, item)
        }
        if (item.version !== version) {
          item.el.className = `alert lvl-${a.level}`
          item.el.dataset.state = a.state
          item.el.dataset.level = a.level
          item.el.replaceChildren(...alertBody(a, lang, openDialog))
          item.version = version
        }
        const expected: Element | null = previous === null ? list.firstElementChild : previous.nextElementSibling
        if (expected !== item.el) list.insertBefore(item.el, expected)
        previous = item.el
      }
      for (const [id, item] of items) {
        if (seen.has(id)) continue
        item.el.remove()
        items.delete(id)
      }
    },
  }
}
