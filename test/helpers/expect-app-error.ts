import { expect } from 'vitest'
import { AppError } from '../../errors.js'

/** Calls `run`, expects it to throw an AppError and returns that error; fails the test if nothing was thrown. */
export function expectAppError(run: () => unknown): AppError {
  try {
    run()
  } catch (err) {
    expect(err).toBeInstanceOf(AppError)
    return err as AppError
  }
  throw new Error('expected an AppError to be thrown')
}
