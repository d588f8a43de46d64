/**
 * How often `name` is a key of the outermost object of `json` (valid JSON: JSON.parse accepted
 * it), each key compared after JSON unescaping. A string is a key when a `:` follows it.
 */
export function countTopLevelKey (json: string, name: string): number {
  let depth = 0
  let count = 0
  for (let i = 0; i < json.length; i++) {
    const char = json.charCodeAt(i)
    if (char === 0x22) { // "
      const start = i
      for (i++; i < json.length && json.charCodeAt(i) !== 0x22; i++) if (json.charCodeAt(i) === 0x5c) i++
      if (depth !== 1) continue
      let next = i + 1
      while (next < json.length && (json[next] === ' ' || json[next] === '\t' || json[next] === '\n' || json[next] === '\r')) next++
      if (json[next] !== ':') continue
      // Most keys hold no escape: compared as they stand, without a parse.
      const key = json.slice(start + 1, i)
      if ((key.includes('\\') ? JSON.parse(json.slice(start, i + 1)) : key) === name) count++
    } else if (char === 0x7b || char === 0x5b) depth++ // { [
    else if (char === 0x7d || char === 0x5d) depth-- // } ]
  }
  return count
}
