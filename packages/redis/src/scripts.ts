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
 * A record JSON whose fencing token is raised to `version` when that is higher: ARGV carries the
 * JSON up to and including `"leaderTransitions":` (the last field, see encodeRecord) and the token
 * asked for. Used by the writes that create a lock or bring a deleted one back: every term's token
 * is at most the version of the write that started it, and versions never repeat or go back (see
 * NEXT_VERSION), so a lock deleted and created again never repeats a token (LockStore.create).
 */
const WITH_TOKEN_FLOOR = `
local function with_token_floor(prefix, token, version)
  local floor = tonumber(version)
  local asked = tonumber(token)
  if floor > asked then asked = floor end
  return prefix .. string.format("%d", asked) .. "}"
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
local function commit(key, counter, record, channel, replace, token)
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
  -- token: nil keeps the record as given; else record is a prefix completed with the raised token.
  if token then record = with_token_floor(record, token, version) end
  redis.call("HSET", key, "record", record, "version", version)
  redis.call("PUBLISH", channel, version .. "\\n" .. record)
  return {version, record}
end
`;

/**
 * The token of a deleted lock: the version counter outlives the lock key (a release never deletes
 * it; an operator's DEL of the lock leaves it), so a missing lock whose counter exists was deleted,
 * not never created. Its version is `deleted-<counter>`; a write on it (UPDATE) brings the lock back.
 */
const TOMBSTONE = `
local function tombstone(counter)
  local last = redis.call("GET", counter)
  if last then return "deleted-" .. last end
  return nil
end
`;

/**
 * Reads the lock: `false` when it never existed, `{tombstone version, "", "deleted"}` when it was
 * deleted, else `{token, stored record text, Redis type}`.
 * KEYS[1] lock, KEYS[2] version counter. Sent as EVALSHA_RO: a read-only script, allowed on
 * replicas, and counted apart from writes in INFO commandstats.
 */
export const READ = script(`${CURRENT}${TOMBSTONE}
local version, record, kind = current(KEYS[1])
if version ~= nil then return {version, record, kind} end
local deleted = tombstone(KEYS[2])
if deleted then return {deleted, "", "deleted"} end
return false
`);

/**
 * Creates the lock if it never existed: returns the new version, or `false` (conflict: it exists, or
 * it was deleted; a deleted lock is brought back by UPDATE on its tombstone, so that a candidate that
 * only ever saw it absent cannot create it behind a deletion it never saw). The token is raised to
 * the new version (WITH_TOKEN_FLOOR).
 * KEYS[1] lock, KEYS[2] version counter; ARGV[1] record JSON up to the token, ARGV[2] token, ARGV[3] channel.
 */
export const CREATE = script(`${NEXT_VERSION}${WITH_TOKEN_FLOOR}${COMMIT}
if redis.call("EXISTS", KEYS[1]) == 1 or redis.call("EXISTS", KEYS[2]) == 1 then return false end
return commit(KEYS[1], KEYS[2], ARGV[1], ARGV[3], false, ARGV[2])
`);

/**
 * Replaces the lock only if its token is still ARGV[1]: returns the new version, or `false`
 * (conflict: the version moved or the lock is gone). The comparison and the write run in one script,
 * which Redis executes atomically, so the compare-and-swap is decided on the server. An expected
 * tombstone version brings a deleted lock back, with the token raised as CREATE raises it.
 * KEYS[1] lock, KEYS[2] version counter; ARGV[1] expected version, ARGV[2] record JSON (up to the
 * token when ARGV[4] is given), ARGV[3] channel, ARGV[4] token (optional).
 */
export const UPDATE = script(`${CURRENT}${TOMBSTONE}${NEXT_VERSION}${WITH_TOKEN_FLOOR}${COMMIT}
local version, _, kind = current(KEYS[1])
if version == nil then
  if tombstone(KEYS[2]) ~= ARGV[1] or ARGV[4] == nil then return false end
  return commit(KEYS[1], KEYS[2], ARGV[2], ARGV[3], false, ARGV[4])
end
if version ~= ARGV[1] then return false end
return commit(KEYS[1], KEYS[2], ARGV[2], ARGV[3], string.sub(version, 1, 4) == "raw-")
`);
