import { createHash } from "node:crypto";

/** A Lua script sent by EVALSHA, falling back to EVAL once when the server does not know it yet. */
export interface LuaScript {
  readonly lua: string;
  readonly sha: string;
}

function script(lua: string): LuaScript {
  return { lua, sha: createHash("sha1").update(lua).digest("hex") };
}

/**
 * What is stored at the lock key, as the CAS token the adapter hands out plus the stored text.
 *
 * A hash written by these scripts carries its own version. Anything else at the key (a hash without
 * a numeric version, a string, a list, …) was written by another program; its token is derived from
 * its content (`raw-<sha1>`), so a compare-and-swap on it succeeds only while that exact content is
 * still there, which is what a CAS promises, and the engine can repair a corrupt lock.
 */
const CURRENT = `
local function current(key)
  local kind = redis.call("TYPE", key)["ok"]
  if kind == "none" then return nil, nil, kind end
  if kind == "hash" then
    local fields = redis.call("HMGET", key, "record", "version")
    local record, version = fields[1], fields[2]
    if record and version and string.match(version, "^[1-9][0-9]*$") then return version, record, kind end
    return "raw-" .. redis.sha1hex("hash\\n" .. tostring(record) .. "\\n" .. tostring(version)), record or "", kind
  end
  if kind == "string" then
    return "raw-" .. redis.sha1hex("string\\n" .. redis.call("GET", key)), "", kind
  end
  return "raw-" .. kind, "", kind
end
`;

/**
 * Hands out the next version of one election.
 *
 * Versions never repeat for an election (no ABA: a writer holding an old version can never match a
 * newer state that happens to carry the same number). Two things make that so:
 * - the counter lives in its own key, which neither a release nor a deletion of the lock key resets,
 *   so deleting and re-creating a lock continues the sequence;
 * - a missing counter (a new election, or a server that lost its data: no persistence, FLUSHALL) is
 *   seeded from the server's clock in microseconds rather than from 0. Each write adds 1, and no
 *   election is written more than once per microsecond, so a counter never overtakes the clock and a
 *   reseeded counter starts above every version handed out before, unless the server's clock stepped
 *   back by more than the time that passed.
 * INCR answering 1 is how a missing counter shows (a seeded one is far above 1), which saves an
 * EXISTS on every write. Seeds are about 1.8e15, well inside the 2^53 that both Lua numbers and
 * JavaScript numbers hold exactly; "%d" keeps Lua from printing them in exponent form.
 */
const NEXT_VERSION = `
local function next_version(counter)
  local version = redis.call("INCR", counter)
  if version ~= 1 then return string.format("%d", version) end
  local now = redis.call("TIME")
  local seed = now[1] .. string.format("%06d", tonumber(now[2]))
  redis.call("SET", counter, seed)
  return seed
end
`;

/**
 * Commits a record: one HSET of the record and its version, and the new snapshot published to the
 * election's channel from inside the same script, so watchers see commits in commit order and
 * nothing can commit between the write and its notice. `replace` first deletes a key another program
 * wrote (of another type, or a hash without our version).
 *
 * Redis does not roll a script back when a command in it fails, and since Redis 7 every command in a
 * script is checked against the caller's ACL. So the permissions of every write are checked before
 * the first one: a user who may write the lock but not publish (or the reverse) gets NOPERM and
 * nothing changes, rather than a committed write that the caller believes failed, or a notice of a
 * write that never happened.
 */
const COMMIT = `
local function commit(key, counter, record, channel, replace)
  local calls = {
    {"SET", counter, "0"}, {"INCR", counter},
    {"HSET", key, "record", record, "version", "0"}, {"PUBLISH", channel, record},
  }
  if replace then table.insert(calls, {"DEL", key}) end
  for _, call in ipairs(calls) do
    if not redis.acl_check_cmd(unpack(call)) then
      return redis.error_reply("NOPERM this user has no permissions to run " .. call[1] .. " on '" .. call[2] ..
        "', which the Tenure write script needs; nothing was written")
    end
  end
  if replace then redis.call("DEL", key) end
  local version = next_version(counter)
  redis.call("HSET", key, "record", record, "version", version)
  redis.call("PUBLISH", channel, version .. "\\n" .. record)
  return version
end
`;

/**
 * Reads the lock: `false` when absent, else `{token, stored record text, Redis type}`.
 * KEYS[1] lock. Sent as EVALSHA_RO: a read-only script, allowed on replicas, and counted apart from
 * writes in INFO commandstats.
 */
export const READ = script(`${CURRENT}
local version, record, kind = current(KEYS[1])
if version == nil then return false end
return {version, record, kind}
`);

/**
 * Creates the lock unless its key exists: returns the new version, or `false` (conflict).
 * KEYS[1] lock, KEYS[2] version counter; ARGV[1] record JSON, ARGV[2] channel.
 */
export const CREATE = script(`${NEXT_VERSION}${COMMIT}
if redis.call("EXISTS", KEYS[1]) == 1 then return false end
return commit(KEYS[1], KEYS[2], ARGV[1], ARGV[2], false)
`);

/**
 * Replaces the lock only if its token is still ARGV[1]: returns the new version, or `false`
 * (conflict: the version moved or the lock is gone). The comparison and the write run in one script,
 * which Redis executes atomically, so the compare-and-swap is decided on the server.
 * KEYS[1] lock, KEYS[2] version counter; ARGV[1] expected version, ARGV[2] record JSON, ARGV[3] channel.
 */
export const UPDATE = script(`${CURRENT}${NEXT_VERSION}${COMMIT}
local version, _, kind = current(KEYS[1])
if version == nil or version ~= ARGV[1] then return false end
return commit(KEYS[1], KEYS[2], ARGV[2], ARGV[3], string.sub(version, 1, 4) == "raw-")
`);
