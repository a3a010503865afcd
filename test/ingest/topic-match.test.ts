import { setImmediate as turn } from 'node:timers/promises'
import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'
import { describe, expect, it } from 'vitest'
import { createHandlerTable, isValidTopicFilter, isValidTopicName, topicMatches } from '../../ingest/topic-match.js'
import { WithholdAck, type BrokerMessage } from '../../ports.js'

describe('topicMatches', () => {
  it.each([
    // the examples of MQTT 3.1.1 §4.7.1
    ['sport/tennis/player1/#', 'sport/tennis/player1', true],
    ['sport/tennis/player1/#', 'sport/tennis/player1/ranking', true],
    ['sport/tennis/player1/#', 'sport/tennis/player1/score/wimbledon', true],
    ['sport/#', 'sport', true],
    ['#', 'sport/tennis', true],
    ['sport/tennis/+', 'sport/tennis/player1', true],
    ['sport/tennis/+', 'sport/tennis/player1/ranking', false],
    ['sport/+', 'sport', false],
    ['sport/+', 'sport/', true],
    ['+/+', '/finance', true],
    ['/+', '/finance', true],
    ['+', '/finance', false],
    // [MQTT-4.7.2-1] wildcards at the first level never match $ topics
    ['#', '$SYS/broker/clients', false],
    ['+/monitor/Clients', '$SYS/monitor/Clients', false],
    ['$SYS/#', '$SYS/monitor/Clients', true],
    ['$SYS/monitor/+', '$SYS/monitor/Clients', true],
    // the engine's own filters
    ['city/+/+/+', 'city/xihu/water_level/WL-0012', true],
    ['city/+/+/+', 'city/xihu/gateway/GW-1', true],
    ['city/+/+/+', 'city/xihu/water_level', false],
    ['city/#', 'citywater/deadletter/schema', false],
    ['city/xihu/+/WL-1', 'city/xihu/flow/WL-1', true],
    ['exact/topic', 'exact/topic', true],
    ['exact/topic', 'exact/Topic', false],
    ['a//b', 'a//b', true],
    ['a/+/b', 'a//b', true],
  ])('%s against %s is %s', (filter, topic, expected) => {
    expect(topicMatches(filter, topic)).toBe(expected)
  })

  it('agrees with matching level arrays, over every short filter and topic', () => {
    // The rule as first written: split both on '/', then level by level.
    const reference = (filter: string, topic: string): boolean => {
      if (topic.startsWith('$') && (filter.startsWith('+') || filter.startsWith('#'))) return false
      const f = filter.split('/')
      const t = topic.split('/')
      for (let i = 0; i < f.length; i++) {
        if (f[i] === '#') return true
        if (i >= t.length) return false
        if (f[i] !== '+' && f[i] !== t[i]) return false
      }
      return f.length === t.length
    }
    const sequences = (pieces: string[], max: number): string[] => {
      const out: string[] = []
      const grow = (levels: string[]): void => {
        if (levels.length > 0) out.push(levels.join('/'))
        if (levels.length < max) for (const p of pieces) grow([...levels, p])
      }
      grow([])
      return out
    }
    const filters = sequences(['a', 'ab', '', '+', '#', '$S'], 3).filter(isValidTopicFilter)
    const topics = sequences(['a', 'ab', 'b', '', '$S'], 4).filter(isValidTopicName)
    let matched = 0
    for (const filter of filters) {
      for (const topic of topics) {
        const expected = reference(filter, topic)
        expect(topicMatches(filter, topic), `${filter} against ${topic}`).toBe(expected)
        if (expected) matched++
      }
    }
    // Both outcomes are well represented.
    expect(matched).toBeGreaterThan(1000)
    expect(filters.length * topics.length - matched).toBeGreaterThan(1000)
  })
})

describe('isValidTopicFilter', () => {
  it.each([
    ['#', true],
    ['sport/#', true],
    ['+', true],
    ['+/tennis/#', true],
    ['sport/+/player1', true],
    ['/', true],
    ['sport/tennis#', false],
    ['sport/tennis/#/ranking', false],
    ['sport+', false],
    ['', false],
    ['a\u0000b', false],
  ])('%j is %s', (filter, expected) => {
    expect(isValidTopicFilter(filter)).toBe(expected)
  })
})

describe('isValidTopicName', () => {
  it.each([
    ['city/xihu/water_level/WL-1', true],
    ['/', true],
    ['city/+/x', false],
    ['city/#', false],
    ['', false],
    ['x'.repeat(65_536), false],
  ])('%j is %s', (topic, expected) => {
    expect(isValidTopicName(topic)).toBe(expected)
  })
})

describe('createHandlerTable', () => {
  const message: BrokerMessage = { topic: 'city/xihu/flow/F-1', payload: Buffer.from('{}'), qos: 1 }

  it('returns the handlers of every matching filter', () => {
    const table = createHandlerTable()
    const a = (): void => {}
    const b = (): void => {}
    const c = (): void => {}
    table.add('city/#', a)
    table.add('city/+/flow/+', b)
    table.add('city/+/water_level/+', c)
    expect(table.matching(message.topic)).toEqual([a, b])
    expect(table.filters).toEqual(['city/#', 'city/+/flow/+', 'city/+/water_level/+'])
  })

  it('rejects an invalid filter', () => {
    expect(() => createHandlerTable().add('city/#/x', () => {})).toThrow(/invalid MQTT topic filter/)
  })

  it('runs every handler although one throws and one rejects, and reports both errors', async () => {
    const table = createHandlerTable()
    const seen: string[] = []
    table.add('city/#', () => {
      throw new Error('sync')
    })
    table.add('city/#', async () => {
      throw new Error('async')
    })
    table.add('city/#', async (m) => {
      seen.push(m.topic)
    })
    const errors: unknown[] = []
    await table.run(table.matching(message.topic), message, (err) => errors.push(err))
    expect(seen).toEqual([message.topic])
    expect(errors.map((e) => (e as Error).message).sort()).toEqual(['async', 'sync'])
  })

  it('finishes without a promise when a lone handler does, and hands a withheld acknowledgement on, thrown or rejected', async () => {
    const errors: unknown[] = []
    const onError = (err: unknown): void => {
      errors.push(err)
    }
    const sync = createHandlerTable()
    let ran = 0
    sync.add('city/#', () => {
      ran++
    })
    expect(sync.run(sync.matching(message.topic), message, onError)).toBeUndefined()
    expect(ran).toBe(1)

    const failing = createHandlerTable()
    failing.add('city/#', () => {
      throw new Error('sync')
    })
    expect(failing.run(failing.matching(message.topic), message, onError)).toBeUndefined()
    expect(errors.map((e) => (e as Error).message)).toEqual(['sync'])

    const thrown = createHandlerTable()
    thrown.add('city/#', () => {
      throw new WithholdAck('full')
    })
    expect(() => thrown.run(thrown.matching(message.topic), message, onError)).toThrow(WithholdAck)

    const rejected = createHandlerTable()
    rejected.add('city/#', async () => {
      throw new WithholdAck('full')
    })
    rejected.add('city/#', () => {
      ran++
    })
    await expect(rejected.run(rejected.matching(message.topic), message, onError)).rejects.toBeInstanceOf(WithholdAck)
    // the other handler ran all the same, and a withheld acknowledgement is not an error
    expect(ran).toBe(2)
    expect(errors).toHaveLength(1)
  })

  it('lets go of the message while a handler waits (a QoS 1 commit), keeping only its topic for an error', async () => {
    setFlagsFromString('--expose-gc')
    const gc = runInNewContext('gc') as () => void
    let fail: (err: Error) => void = () => {}
    const table = createHandlerTable()
    // the handler keeps nothing of the message, as the engine's does once the readings are in the log's group
    table.add('city/#', () => new Promise<void>((_resolve, reject) => (fail = reject)))
    const errors: [unknown, string][] = []
    // made in a function of its own: a local of this async test would live on in its suspended frame
    const deliver = (): { held: WeakRef<BrokerMessage>; ran: Promise<void> | undefined } => {
      const big: BrokerMessage = { topic: 'city/xihu/river_gauge/rg-1/reading', payload: Buffer.alloc(1 << 20), qos: 1 }
      return { held: new WeakRef(big), ran: table.run(table.matching(big.topic), big, (err, topic) => errors.push([err, topic])) }
    }
    const { held, ran } = deliver()
    expect(ran).toBeInstanceOf(Promise)
    // a WeakRef holds its target until the current job ends
    await turn()
    gc()
    expect(held.deref()).toBeUndefined()
    fail(new Error('commit failed'))
    await ran
    expect(errors.map(([err, topic]) => [(err as Error).message, topic])).toEqual([['commit failed', 'city/xihu/river_gauge/rg-1/reading']])
  })
})
