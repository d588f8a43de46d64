import { connect } from 'node:net'

export interface RawResponse {
  status: number
  headers: Record<string, string>
  body: string
}

/**
 * Sends bytes exactly as written (no client-side path or header normalization, unlike fetch)
 * and reads one response on a fresh connection.
 */
export async function rawRequest (baseUrl: string, request: string): Promise<RawResponse> {
  const { hostname, port } = new URL(baseUrl)
  return await new Promise((resolve, reject) => {
    const socket = connect(Number(port), hostname)
    const chunks: Buffer[] = []
    socket.on('data', (chunk) => {
      chunks.push(chunk)
      const parsed = tryParse(Buffer.concat(chunks).toString('latin1'))
      if (parsed) {
        socket.destroy()
        resolve(parsed)
      }
    })
    socket.on('error', reject)
    socket.on('end', () => {
      const parsed = tryParse(Buffer.concat(chunks).toString('latin1'), true)
      if (parsed) resolve(parsed)
      else reject(new Error('connection closed before a full response'))
    })
    socket.write(request)
  })
}

function tryParse (text: string, atEnd = false): RawResponse | undefined {
  const split = text.indexOf('\r\n\r\n')
  if (split === -1) return undefined
  const [statusLine, ...lines] = text.slice(0, split).split('\r\n')
  const headers: Record<string, string> = {}
  for (const line of lines) {
    const colon = line.indexOf(':')
    headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim()
  }
  const body = text.slice(split + 4)
  const length = headers['content-length']
  if (length !== undefined && Buffer.byteLength(body, 'latin1') < Number(length)) return undefined
  if (length === undefined && headers['transfer-encoding'] === 'chunked') {
    if (!body.endsWith('0\r\n\r\n')) return undefined
    return { status: Number(statusLine?.split(' ')[1]), headers, body: dechunk(body) }
  }
  if (length === undefined && !atEnd) return undefined
  return { status: Number(statusLine?.split(' ')[1]), headers, body }
}

function dechunk (body: string): string {
  let out = ''
  let rest = body
  for (;;) {
    const eol = rest.indexOf('\r\n')
    const size = parseInt(rest.slice(0, eol), 16)
    if (!size) return out
    out += rest.slice(eol + 2, eol + 2 + size)
    rest = rest.slice(eol + 2 + size + 2)
  }
}

/** A GET with the given raw target and extra header lines. */
export function rawGet (target: string, headerLines: string[] = []): string {
  const connection = headerLines.some((line) => /^connection:/i.test(line)) ? [] : ['Connection: close']
  return [`GET ${target} HTTP/1.1`, 'Host: gateway.test', ...headerLines, ...connection, '', ''].join('\r\n')
}
