/**
 * Open WebSocket sessions by principal (CONTRACT.md §15). A session is authorized once, at its
 * handshake; without this register a block or the token's expiry would never reach it (the
 * class of Oathkeeper #421). Each session is indexed under its tenant, client and user, so a new
 * block closes the sessions it covers in O(sessions of that principal), and each carries a
 * timer for its token's `exp`.
 */
import { type BlockedPrincipal } from '../blocks/index.js'
import { blockField, type Block } from '../blocks/index.js'

export type SessionEnd = 'token_expired' | 'principal_blocked' | 'token_revoked'

/** The close frame's reason text for each end the gateway decides (§15). */
export const SESSION_END_REASON: Readonly<Record<SessionEnd, string>> = {
  token_expired: 'token expired',
  principal_blocked: 'principal blocked',
  token_revoked: 'token revoked'
}

export interface SessionPrincipal extends BlockedPrincipal {
  /** The token's `exp`, ms since the epoch. */
  expiresAt: number
}

export interface WebSocketSessions {
  /**
   * Tracks a session until the returned function is called; `end` is how the gateway closes
   * it, called at most once. A principal already blocked is ended at once (a block may have
   * arrived between the decision and the upstream's answer).
   */
  track (principal: SessionPrincipal, end: (why: SessionEnd) => void): () => void
  /**
   * Ends every tracked session that one of `blocks` covers: all of a fully blocked principal's,
   * only those whose token a revocation covers (issued before its instant).
   */
  endCovered (blocks: readonly Block[]): void
  readonly size: number
}

export interface WebSocketSessionOptions {
  /** The block in force for this principal, if any (the gateway's block list). */
  blockOf: (principal: BlockedPrincipal) => Block | undefined
  now?: () => number
}

interface Session {
  readonly principal: SessionPrincipal
  readonly fields: readonly string[]
  readonly end: (why: SessionEnd) => void
  timer: NodeJS.Timeout | undefined
}

/** setTimeout's ceiling (about 24.8 days); an access token lives hours at most. */
const MAX_TIMER_MS = 2 ** 31 - 1

export function createWebSocketSessions ({ blockOf, now = Date.now }: WebSocketSessionOptions): WebSocketSessions {
  const byField = new Map<string, Set<Session>>()
  let size = 0

  const untrack = (session: Session): void => {
    if (session.timer === undefined) return
    clearTimeout(session.timer)
    session.timer = undefined
    size--
    for (const field of session.fields) {
      const sessions = byField.get(field)
      sessions?.delete(session)
      if (sessions?.size === 0) byField.delete(field)
    }
  }
  // Judged by the whole list, not the new block alone: a full block of the same principal wins.
  const endIfRefused = (session: Session): void => {
    const block = blockOf(session.principal)
    if (block !== undefined) endSession(session, block.issuedBefore === undefined ? 'principal_blocked' : 'token_revoked')
  }
  const endSession = (session: Session, why: SessionEnd): void => {
    if (session.timer === undefined) return
    untrack(session)
    session.end(why)
  }

  return {
    get size () { return size },
    track (principal, end) {
      const fields = [blockField('tenant', principal.tenantId)]
      if (principal.clientId !== undefined) fields.push(blockField('client', principal.clientId))
      if (principal.objectId !== undefined) fields.push(blockField('user', principal.objectId))
      const session: Session = { principal, fields, end, timer: undefined }
      session.timer = setTimeout(() => { endSession(session, 'token_expired') }, Math.min(Math.max(principal.expiresAt - now(), 0), MAX_TIMER_MS))
      session.timer.unref()
      size++
      for (const field of fields) {
        let sessions = byField.get(field)
        if (sessions === undefined) byField.set(field, sessions = new Set())
        sessions.add(session)
      }
      endIfRefused(session)
      return () => { untrack(session) }
    },
    endCovered (blocks) {
      for (const block of blocks) {
        const sessions = byField.get(blockField(block.kind, block.id))
        if (sessions === undefined) continue
        for (const session of [...sessions]) endIfRefused(session)
      }
    }
  }
}
