import neostandard from 'neostandard'

// Fastify's own lint setup (STYLE.md §12): neostandard with TypeScript rules.
export default [
  ...neostandard({ ts: true, ignores: ['dist/**', 'coverage/**', 'bench/results/**', '.tap/**'] }),
  // `void promise;` is how a deliberately unawaited promise is marked (typescript-eslint's
  // no-floating-promises); only that statement form is allowed.
  { rules: { 'no-void': ['error', { allowAsStatement: true }] } },
  // Tests write config values with the gateway's own `${VAR}` interpolation syntax.
  { files: ['test/**'], rules: { 'no-template-curly-in-string': 'off' } }
]
