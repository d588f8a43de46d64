/** Each command's usage (CONTRACT.md §9), for `--help`, `<command> --help` and `help <command>`. */
const COMMAND_USAGE: Readonly<Record<string, string>> = {
  start: `start [--config PATH]
    Run the gateway: the proxy port and the admin port (/healthz, /readyz, /metrics).
    SIGTERM drains in-flight requests for up to server.shutdownGraceMs.`,
  check: `check [--offline] [--config PATH]
    Validate the config, then reach each profile's discovery and JWKS, the mapping source and
    the cache. One line per check, "ok <check>" or "FAIL <check>: <why>"; exit 1 on any failure.
    --offline   the config and the files it names only (mappings file, TLS files, assertion keys,
                Graph credentials), no network; a problem in them exits 78`,
  lookup: `lookup --tenant GUID | --client GUID [--json] [--config PATH]
    How the gateway resolves a tenant (its banks, the default, each bank enabled or not) or a client
    (its bank, enabled, description, secret expiry) now, where the answer came from (shared cache
    or source) and its age; exit 1 when it does not resolve. Reads only: the shared cache is not
    filled with the source's answer. A running gateway's process layer is not visible from here.
    --json   one JSON object instead of lines`,
  explain: `explain --token JWT [--path P] [--method M] [--bank B] [--at TIME] [--jwks FILE] [--client-cert FILE] [--config PATH]
    Print as JSON what the gateway would decide for this token, without proxying; exit 0 allow,
    1 deny. Without --path the token is judged against the API profile its audience names.
    --at TIME    evaluate at an instant (ISO 8601, e.g. 2026-12-01T09:30:00Z, or epoch seconds):
                 replays a captured token as it was judged then
    --jwks FILE  take the signing keys from a JWKS file ({"keys": [...]}) instead of the authority
    --client-cert FILE  the client certificate (PEM) the ingress would pass on, for a token bound
                 to one (cnf x5t#S256); believed only when server.clientCertificate is set`,
  demo: `demo
    Start a complete local setup with no external services (a local test issuer, file mappings,
    the memory cache, an echo upstream) and print ready-to-run curl commands.`,
  clients: `clients [--expiring-within DURATION] [--json] [--config PATH]
    Every registered bank client with its bank and secret expiry, soonest first.
    --expiring-within 90d  only secrets expiring within the window (h, d or w: 12h, 90d, 2w),
                           expired ones included; exit 1 when there is any, for alerting
    --json                 one JSON array instead of lines`,
  'cache purge': `cache purge --tenant GUID | --client GUID | --all [--reason TEXT] [--by TEXT] [--config PATH]
    Drop cached answers in the shared cache (Redis) and, through it, in every running gateway's
    process layer; says how many gateways received the message. Every gateway logs the purge
    with --by (default $USER@hostname) and --reason.`,
  block: `block --tenant GUID | --client GUID | --user OID [--issued-before TIME] [--for DURATION] [--reason TEXT] [--by TEXT] [--config PATH]
    Refuse every token of a tenant, a client application or a user with 403 PRINCIPAL_BLOCKED,
    on every gateway within a second, until the block expires or is lifted by unblock. Kept in
    the shared cache (Redis); reads only the config's cache section.
    --issued-before TIME
                    revoke only the tokens issued before TIME (ISO 8601 with a zone, or now):
                    they get 401 TOKEN_REVOKED and the client gets a new token; newer ones pass.
                    It replaces an earlier revocation of the principal, never a full block
    --for 24h       how long (s, m, h, d or w: 90s, 30m, 12h, 7d, 2w); default 24h, at most 366d
    --reason TEXT   logged by every gateway with the block, and listed by "blocks"
    --by TEXT       who sets it (one line of printable text); default $USER@hostname`,
  unblock: `unblock --tenant GUID | --client GUID | --user OID [--reason TEXT] [--by TEXT] [--config PATH]
    Lift a block or a revocation (--issued-before) on every gateway at once; a gateway that
    missed the message lifts it at its next read. Only unblock, or the block's expiry, lifts a
    block. Every gateway that lifts it logs it with --by and --reason.
    --reason TEXT   why it is lifted (one line of printable text); kept beside the lifted block
    --by TEXT       who lifts it (one line of printable text); default $USER@hostname`,
  blocks: `blocks [--json] [--config PATH]
    The blocks in force, one line each: kind, id, expiry, reason ("-" for none), by, since, and
    for a revocation "tokens issued before TIME";
    soonest expiry first; "no blocks in force" when there are none.
    --json   one JSON array instead of lines`
}

export const USAGE = `usage: bookme-gateway <command> [options]

${Object.values(COMMAND_USAGE).map((text) => `  ${text.split('\n')[0]}`).join('\n')}

  help <command>, <command> --help   that command's options
  --version                          the gateway's version

Exit codes: 0 success, 1 a check or decision failed, 2 usage error, 78 configuration error.
`

/** The usage of one command, or undefined for an unknown one. */
export function commandUsage (name: string): string | undefined {
  const text = COMMAND_USAGE[name]
  return text === undefined ? undefined : `usage: bookme-gateway ${text}\n`
}
