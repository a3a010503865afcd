import { pino } from 'pino'
import { describe, expect, it } from 'vitest'
import { createMemoryBroker } from '../../ingest/memory-broker.js'
import { brokerContract, memoryDevice } from './broker-contract.js'

brokerContract('in-memory double', async () => {
  const broker = createMemoryBroker({ logger: pino({ level: 'silent' }) })
  await broker.start()
  return { broker, device: memoryDevice(broker), deviceAckWaitsForHandlers: true, close: () => broker.close() }
})

describe('createMemoryBroker', () => {
  it('records what the engine publishes with its options', async () => {
    const broker = createMemoryBroker()
    await broker.start()
    await broker.publish('citywater/alerts/a', 'x', { qos: 1, retain: true })
    expect(broker.published).toEqual([{ topic: 'citywater/alerts/a', payload: Buffer.from('x'), qos: 1, retain: true }])
  })

  it('keeps handler errors for inspection and resolves inject anyway', async () => {
    const broker = createMemoryBroker()
    await broker.subscribe('city/#', () => {
      throw new Error('boom')
    })
    await broker.start()
    await broker.inject('city/xihu/flow/F-1', '{}', 1)
    expect(broker.handlerErrors.map((e) => (e as Error).message)).toEqual(['boom'])
  })

  it('refuses inject and publish before start', async () => {
    const broker = createMemoryBroker()
    await expect(broker.inject('city/x', '{}')).rejects.toThrow(/not started/)
    await expect(broker.publish('city/x', '{}')).rejects.toThrow(/not started/)
  })
})
