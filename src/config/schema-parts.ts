/**
 * The building blocks every part of the config schema uses: strict objects, sections whose
 * every key has a default, one-problem enums, the GUID and non-empty string rules.
 */
import { Type, type TSchema } from '@sinclair/typebox'
import { GUID_PATTERN_SCHEMA } from './validation.js'

export const strict = { additionalProperties: false } as const
export const Guid = GUID_PATTERN_SCHEMA
export const NonEmpty = Type.String({ minLength: 1 })

/** A string enum as plain JSON schema `enum`, so a wrong value gives one problem, not one per choice. */
export function oneOf<const T extends readonly string[]> (values: T, options: { default?: T[number] } = {}) {
  return Type.Unsafe<T[number]>({ type: 'string', enum: [...values], ...options })
}

/** An object whose every property has a default: absent sections are filled in whole. */
export function section<T extends Record<string, TSchema>> (properties: T) {
  return Type.Object(properties, { ...strict, default: {} })
}
