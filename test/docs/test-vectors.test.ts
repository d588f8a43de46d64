import t from 'tap'
import { readFileSync } from 'node:fs'
import { createLocalJWKSet, jwtVerify, type JSONWebKeySet } from 'jose'

// docs/assertion-test-vectors.json is for implementers in other languages: each verdict must be
// what a standard JOSE library reaches (jose here), or the vectors mislead.
const vectors = JSON.parse(readFileSync(new URL('../../docs/assertion-test-vectors.json', import.meta.url), 'utf8')) as {
  jwks: JSONWebKeySet
  cases: Array<{ name: string, assertion: string, issuer: string, audience: string, algorithms: string[], at: string, verdict: 'valid' | 'invalid', reason?: string }>
  claims_of_valid: Record<string, unknown>
}

t.test('every vector reaches its stated verdict with jose', async (t) => {
  const keys = createLocalJWKSet(vectors.jwks)
  t.ok(vectors.cases.some((c) => c.verdict === 'valid') && vectors.cases.filter((c) => c.verdict === 'invalid').length >= 5)
  for (const vector of vectors.cases) {
    const outcome = await jwtVerify(vector.assertion, keys, { issuer: vector.issuer, audience: vector.audience, algorithms: vector.algorithms, currentDate: new Date(vector.at) })
      .then(({ payload }) => ({ verdict: 'valid', payload }), (err: Error) => ({ verdict: 'invalid', error: err.message }))
    t.equal(outcome.verdict, vector.verdict, `${vector.name}${'error' in outcome ? `: ${outcome.error}` : ''}`)
    if ('payload' in outcome) t.same(outcome.payload, vectors.claims_of_valid, 'the valid one carries the listed claims')
  }
  t.ok(vectors.jwks.keys.every((k) => !('d' in k)), 'public keys only')
})
