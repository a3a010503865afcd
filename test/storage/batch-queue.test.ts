import { describe, expect, it } from 'vitest'
import { createBatchQueue } from '../../storage/batch-queue.js'

describe('batch queue', () => {
  it('hands out batches oldest first and forgets only what was dropped', () => {
    const queue = createBatchQueue<number>()
    queue.push([1, 2, 3])
    queue.push([4, 5])
    expect(queue.size).toBe(5)
    expect(queue.peek(2)).toEqual([1, 2])
    expect(queue.peek(2)).toEqual([1, 2])
    queue.drop(2)
    expect(queue.peek(10)).toEqual([3, 4, 5])
    queue.drop(3)
    expect(queue.size).toBe(0)
    expect(queue.peek(10)).toEqual([])
  })

  it('keeps order across compactions of a long run', () => {
    const queue = createBatchQueue<number>()
    let next = 0
    let expected = 0
    for (let round = 0; round < 50; round++) {
      queue.push(Array.from({ length: 1000 }, () => next++))
      const batch = queue.peek(900)
      expect(batch[0]).toBe(expected)
      expect(batch.at(-1)).toBe(expected + batch.length - 1)
      queue.drop(batch.length)
      expected += batch.length
    }
    expect(queue.size).toBe(next - expected)
    expect(queue.clear()[0]).toBe(expected)
    expect(queue.size).toBe(0)
  })
})
