/**
 * The signed identity assertion as the configuration asks for it (CONTRACT.md §11): on when
 * `assertion.keys` names any; the keys are read at once, so a bad key file is a configuration
 * error before any connection is opened.
 */
import type { Config } from '../config/schema.js'
import { loadAssertionKeys } from './keys.js'
import { createAssertionSigner, type AssertionSigner } from './signer.js'

export function createAssertion (config: Readonly<Config>): AssertionSigner | undefined {
  const keys = loadAssertionKeys(config.assertion)
  if (keys.length === 0) return undefined
  return createAssertionSigner({ issuer: config.assertion.issuer, ttlSec: config.assertion.ttlSec, clockToleranceSec: config.entra.clockToleranceSec, keys })
}
