/** The Redis names one election uses. */
export interface ElectionKeys {
  /** Hash with fields `record` (the JSON record) and `version`. */
  readonly lock: string;
  /** Version counter; survives deletion of the lock so versions never repeat. */
  readonly counter: string;
  /** Pub/sub channel every commit publishes `<version>\n<record JSON>` to. */
  readonly channel: string;
}

/**
 * Key and channel names of `election` under `keyPrefix`: `<prefix>:{<election>}:lock`,
 * `…:version` and `…:changes`. The election name is the hash tag, so on Redis Cluster every key of
 * one election lies in one hash slot (a script may only touch keys of one slot), while different
 * elections spread over the cluster. Election names are DNS-1123 subdomains and cannot contain braces,
 * and the prefix is checked not to, so the tag is always the election name.
 */
export function electionKeys(keyPrefix: string, election: string): ElectionKeys {
  const base = keyPrefix === "" ? `{${election}}` : `${keyPrefix}:{${election}}`;
  return { lock: `${base}:lock`, counter: `${base}:version`, channel: `${base}:changes` };
}

/**
 * The Redis Cluster hash slot of `election`'s keys: CRC16 (XMODEM) of the hash tag, modulo 16384,
 * as the cluster computes it. Lets a watch subscribe on the node that runs the election's scripts.
 */
export function electionSlot(election: string): number {
  let crc = 0;
  for (const byte of Buffer.from(election, "utf8")) {
    crc ^= byte << 8;
    for (let bit = 0; bit < 8; bit++)
      crc = crc & 0x8000 ? ((crc << 1) ^ 0x1021) & 0xffff : (crc << 1) & 0xffff;
  }
  return crc % 16384;
}
