import { RAW_POLICY } from '../../storage/influx-admin.js'
import { schemaKey, type InfluxqlSchema, type MeasurementSchema } from './influxql-schema.js'

type TokenType = 'ident' | 'word' | 'string' | 'regex' | 'number' | 'op'

interface Token {
  type: TokenType
  text: string
}

const KEYWORDS = new Set([
  'select', 'from', 'where', 'and', 'or', 'not', 'group', 'by', 'order', 'asc', 'desc', 'limit', 'offset', 'slimit',
  'soffset', 'as', 'into', 'fill', 'tz', 'time', 'now', 'true', 'false', 'show', 'tag', 'values', 'with', 'key', 'in', 'on',
  'none', 'null', 'previous', 'linear',
])
const CLAUSE_END = new Set(['where', 'group', 'order', 'limit', 'offset', 'slimit', 'soffset', 'fill', 'tz'])
const OPERATORS = ['=~', '!~', '!=', '<>', '<=', '>=', '=', '<', '>', '+', '-', '*', '/', '%', '(', ')', ',', '.', ';']

/** Splits InfluxQL into tokens; a `/` after `=~` or `!~` opens a regex literal. */
function tokenize(query: string): Token[] {
  const tokens: Token[] = []
  let i = 0
  const quoted = (close: string): string => {
    let out = ''
    i++
    while (i < query.length && query[i] !== close) {
      if (query[i] === '\\' && i + 1 < query.length) i++
      out += query[i]
      i++
    }
    if (i >= query.length) throw new Error(`unterminated ${close} in ${query}`)
    i++
    return out
  }
  while (i < query.length) {
    const c = query[i] ?? ''
    const prev = tokens.at(-1)
    if (/\s/.test(c)) i++
    else if (c === '"') tokens.push({ type: 'ident', text: quoted('"') })
    else if (c === "'") tokens.push({ type: 'string', text: quoted("'") })
    else if (c === '/' && prev?.type === 'op' && (prev.text === '=~' || prev.text === '!~')) tokens.push({ type: 'regex', text: quoted('/') })
    else if (/[0-9]/.test(c)) {
      const m = /^[0-9]+(\.[0-9]+)?(ns|us|µs|u|ms|s|m|h|d|w)?/.exec(query.slice(i))?.[0] ?? c
      tokens.push({ type: 'number', text: m })
      i += m.length
    } else if (/[A-Za-z_]/.test(c)) {
      const m = /^[A-Za-z_][A-Za-z0-9_]*/.exec(query.slice(i))?.[0] ?? c
      tokens.push({ type: 'word', text: m })
      i += m.length
    } else {
      const op = OPERATORS.find((o) => query.startsWith(o, i))
      if (op === undefined) throw new Error(`unexpected character ${JSON.stringify(c)} at ${i} in ${query}`)
      tokens.push({ type: 'op', text: op })
      i += op.length
    }
  }
  return tokens
}

const isWord = (t: Token | undefined, word: string): boolean => t?.type === 'word' && t.text.toLowerCase() === word
const isOp = (t: Token | undefined, op: string): boolean => t?.type === 'op' && t.text === op

/** One source of a FROM clause, resolved: its name for messages and its schema. */
interface Source {
  name: string
  schema: MeasurementSchema
}

class Checker {
  private pos = 0
  readonly problems: string[] = []

  constructor(
    private readonly tokens: Token[],
    private readonly schema: InfluxqlSchema,
  ) {}

  run(): void {
    while (this.pos < this.tokens.length) {
      if (isWord(this.peek(), 'select')) this.select()
      else if (isWord(this.peek(), 'show')) this.showTagValues()
      else this.fail(`unsupported statement starting at ${this.describe(this.peek())}`)
      if (this.pos < this.tokens.length && !isOp(this.peek(), ';')) {
        this.fail(`unexpected ${this.describe(this.peek())}`)
        return
      }
      this.pos++
    }
  }

  private peek(offset = 0): Token | undefined {
    return this.tokens[this.pos + offset]
  }

  private next(): Token | undefined {
    return this.tokens[this.pos++]
  }

  private describe(token: Token | undefined): string {
    return token === undefined ? 'end of query' : JSON.stringify(token.text)
  }

  private fail(message: string): void {
    this.problems.push(message)
    // Skip to the end of the statement so one mistake gives one message.
    while (this.pos < this.tokens.length && !isOp(this.peek(), ';')) this.pos++
  }

  private expectWord(word: string): boolean {
    if (isWord(this.peek(), word)) {
      this.pos++
      return true
    }
    this.fail(`expected ${word.toUpperCase()}, found ${this.describe(this.peek())}`)
    return false
  }

  /** Tokens up to (not including) the next depth-0 token matching `stop`, or a closing parenthesis of an outer level. */
  private until(stop: (t: Token) => boolean): Token[] {
    const out: Token[] = []
    let depth = 0
    while (this.pos < this.tokens.length) {
      const t = this.tokens[this.pos] as Token
      if (depth === 0 && (stop(t) || isOp(t, ';') || isOp(t, ')'))) break
      if (isOp(t, '(')) depth++
      if (isOp(t, ')')) depth--
      out.push(t)
      this.pos++
    }
    return out
  }

  /** The column and tag names an expression refers to: identifiers that are not functions, keywords or `time`. */
  private references(tokens: Token[]): string[] {
    const refs: string[] = []
    tokens.forEach((t, i) => {
      const next = tokens[i + 1]
      if (t.type === 'ident') {
        if (!isOp(next, '(')) refs.push(t.text)
      } else if (t.type === 'word' && !KEYWORDS.has(t.text.toLowerCase()) && !isOp(next, '(')) refs.push(t.text)
    })
    return refs.filter((r) => r !== 'time')
  }

  private checkRefs(refs: string[], sources: Source[], where: string, tagsOnly = false): void {
    for (const ref of refs) {
      for (const source of sources) {
        const known = source.schema.tags.has(ref) || (!tagsOnly && source.schema.fields.has(ref))
        if (!known) {
          this.problems.push(`unknown ${tagsOnly ? 'tag' : 'field or tag'} "${ref}" of ${source.name} in ${where}`)
        }
      }
    }
  }

  /** Parses a FROM list; null when a source could not be resolved (already reported). */
  private sources(): Source[] | null {
    const out: Source[] = []
    let ok = true
    for (;;) {
      if (isOp(this.peek(), '(')) {
        this.pos++
        const inner = this.select()
        if (!isOp(this.next(), ')')) {
          this.fail('unclosed subquery')
          return null
        }
        if (inner === null) ok = false
        else out.push({ name: 'the subquery', schema: inner })
      } else {
        const parts: string[] = []
        for (;;) {
          const t = this.next()
          if (t?.type === 'op' && t.text === '/') {
            this.fail('regex measurement sources cannot be checked: name each measurement')
            return null
          }
          if (t === undefined || (t.type !== 'ident' && t.type !== 'word')) {
            this.fail(`expected a measurement, found ${this.describe(t)}`)
            return null
          }
          parts.push(t.text)
          if (!isOp(this.peek(), '.')) break
          this.pos++
        }
        const [measurement = '', policy = RAW_POLICY] = [...parts].reverse()
        const key = schemaKey(measurement, policy)
        const schema = this.schema.get(key)
        if (schema === undefined) {
          this.problems.push(`unknown measurement ${key}`)
          ok = false
        } else out.push({ name: key, schema })
      }
      if (!isOp(this.peek(), ',')) break
      this.pos++
    }
    return ok ? out : null
  }

  /** SELECT ... FROM ... [WHERE] [GROUP BY] [fill] [ORDER BY] [LIMIT/OFFSET/SLIMIT/SOFFSET] [tz]; returns the result's schema. */
  private select(): MeasurementSchema | null {
    if (!this.expectWord('select')) return null
    const fieldTokens = this.until((t) => isWord(t, 'from') || isWord(t, 'into'))
    if (isWord(this.peek(), 'into')) {
      this.fail('SELECT ... INTO does not belong in a dashboard')
      return null
    }
    if (!this.expectWord('from')) return null
    const sources = this.sources()
    if (sources === null) {
      this.until(() => false)
      return null
    }

    const columns = new Set<string>()
    const fieldExpressions = split(fieldTokens)
    for (const expression of fieldExpressions) {
      const asAt = expression.findIndex((t) => isWord(t, 'as'))
      const body = asAt >= 0 ? expression.slice(0, asAt) : expression
      const alias = asAt >= 0 ? expression[asAt + 1]?.text : undefined
      if (body.length === 1 && isOp(body[0], '*')) {
        for (const s of sources) for (const f of s.schema.fields) columns.add(f)
        continue
      }
      this.checkRefs(this.references(body), sources, 'SELECT')
      const first = body[0]
      columns.add(alias ?? (body.length === 1 && first !== undefined ? first.text : first?.type === 'word' && isOp(body[1], '(') ? first.text : body.map((t) => t.text).join('')))
    }

    const groupTags = new Set<string>()
    while (this.pos < this.tokens.length && !isOp(this.peek(), ';') && !isOp(this.peek(), ')')) {
      const t = this.next()
      if (isWord(t, 'where')) {
        this.checkRefs(this.references(this.until((x) => CLAUSE_END.has(x.type === 'word' ? x.text.toLowerCase() : ''))), sources, 'WHERE')
      } else if (isWord(t, 'group') && this.expectWord('by')) {
        for (const dimension of split(this.until((x) => CLAUSE_END.has(x.type === 'word' ? x.text.toLowerCase() : '')))) {
          if (isWord(dimension[0], 'time') && isOp(dimension[1], '(')) continue
          if (dimension.length === 1 && isOp(dimension[0], '*')) {
            for (const s of sources) for (const tag of s.schema.tags) groupTags.add(tag)
            continue
          }
          const refs = this.references(dimension)
          this.checkRefs(refs, sources, 'GROUP BY', true)
          for (const r of refs) groupTags.add(r)
        }
      } else if ((isWord(t, 'fill') || isWord(t, 'tz')) && isOp(this.peek(), '(')) {
        this.pos++
        this.until(() => false)
        if (!isOp(this.next(), ')')) this.fail(`unclosed ${t?.text}(`)
      } else if (isWord(t, 'order') && this.expectWord('by')) {
        if (!isWord(this.next(), 'time')) this.fail('only ORDER BY time is allowed')
        if (isWord(this.peek(), 'asc') || isWord(this.peek(), 'desc')) this.pos++
      } else if (['limit', 'offset', 'slimit', 'soffset'].some((w) => isWord(t, w))) {
        if (this.next()?.type !== 'number') this.fail(`${t?.text} needs a number`)
      } else {
        this.fail(`unexpected ${this.describe(t)} in SELECT`)
        return null
      }
    }
    return { tags: groupTags, fields: columns }
  }

  /** SHOW TAG VALUES [FROM ...] WITH KEY (= k | IN (k, ...)) [WHERE ...] (a WHERE here may name tags only). */
  private showTagValues(): void {
    this.pos++
    if (!this.expectWord('tag') || !this.expectWord('values')) return
    let sources: Source[] | null = [...this.schema.entries()].filter(([k]) => k.startsWith(`${RAW_POLICY}.`)).map(([name, schema]) => ({ name, schema }))
    if (isWord(this.peek(), 'from')) {
      this.pos++
      sources = this.sources()
      if (sources === null) return
    }
    if (!this.expectWord('with') || !this.expectWord('key')) return
    const op = this.next()
    let keys: string[] = []
    if (isOp(op, '=')) keys = this.references([this.next() as Token])
    else if (isWord(op, 'in') && isOp(this.next(), '(')) {
      keys = this.references(this.until(() => false))
      this.pos++
    } else return this.fail(`unsupported WITH KEY ${this.describe(op)}`)
    if (keys.length === 0) return this.fail('WITH KEY names no tag')
    this.checkRefs(keys, sources, 'WITH KEY', true)
    if (isWord(this.peek(), 'where')) {
      this.pos++
      this.checkRefs(this.references(this.until((x) => isWord(x, 'limit') || isWord(x, 'offset'))), sources, 'WHERE of SHOW TAG VALUES', true)
    }
    while (isWord(this.peek(), 'limit') || isWord(this.peek(), 'offset')) this.pos += 2
  }
}

/** Splits tokens on depth-0 commas. */
function split(tokens: Token[]): Token[][] {
  const parts: Token[][] = [[]]
  let depth = 0
  for (const t of tokens) {
    if (isOp(t, '(')) depth++
    if (isOp(t, ')')) depth--
    if (depth === 0 && isOp(t, ',')) parts.push([])
    else parts.at(-1)?.push(t)
  }
  return parts.filter((p) => p.length > 0)
}

/**
 * Checks InfluxQL (dashboard macros already substituted) against a schema: every measurement, with its retention
 * policy, must exist; every field or tag a SELECT names must exist in each of its sources; GROUP BY, SHOW TAG VALUES
 * keys and their WHERE may name tags only; a subquery's columns are its aliases and its GROUP BY tags.
 * Returns one message per problem; empty when the query only names what the schema has.
 */
export function checkInfluxql(query: string, schema: InfluxqlSchema): string[] {
  // A `$` before `/` or `)` is a regex anchor; before a name or `{` it is a variable nobody substituted.
  if (/\$[\w{]|\[\[/.test(query)) return [`dashboard variable left in the query: ${query}`]
  let tokens: Token[]
  try {
    tokens = tokenize(query)
  } catch (err) {
    return [(err as Error).message]
  }
  const checker = new Checker(tokens, schema)
  checker.run()
  return checker.problems
}
