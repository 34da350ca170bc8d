namespace ClusterSharing.Coordination.Redis;

/// <summary>
/// The Lua scripts of the Redis engine: each runs atomically on the Redis server, on the keys of one cluster name (one
/// hash slot). Times are Redis's own clock (TIME) in milliseconds; candidates are hash fields
/// <c>id → "expires|weight|joined|seen"</c> that count as live until <c>expires</c>.
/// </summary>
internal static class RedisScripts
{
    /// <summary>Shared functions: the server time, and the best live candidate (highest weight, earliest joined) with the highest epoch any live candidate saw; expired candidates are removed.</summary>
    private const string Functions = """
        local function now_ms()
          local t = redis.call('TIME')
          return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
        end
        local function best(hash, now)
          local all = redis.call('HGETALL', hash)
          local bid, bw, bj, bx, seen = '', nil, 0, 0, 0
          for i = 1, #all, 2 do
            local exp, w, j, s = string.match(all[i + 1], '^(%d+)|(%-?%d+)|(%d+)|(%d+)$')
            if exp and tonumber(exp) > now then
              w = tonumber(w); j = tonumber(j); s = tonumber(s)
              if s > seen then seen = s end
              if bw == nil or w > bw or (w == bw and (j < bj or (j == bj and all[i] < bid))) then bid, bw, bj, bx = all[i], w, j, tonumber(exp) - now end
            else
              redis.call('HDEL', hash, all[i])
            end
          end
          return bid, bw or 0, bx, seen
        end
        local function register(hash, id, weight, seen, ttl, now)
          local joined, fresh = now, 1
          local old = redis.call('HGET', hash, id)
          if old then
            local exp, j = string.match(old, '^(%d+)|%-?%d+|(%d+)|')
            if exp and tonumber(exp) > now then joined, fresh = tonumber(j), 0 end
          end
          redis.call('HSET', hash, id, string.format('%d|%d|%d|%d', now + ttl, weight, joined, seen))
          redis.call('PEXPIRE', hash, ttl * 4)
          return fresh
        end
        """;

    /// <summary>KEYS: leader, candidates, settle. Returns {leader value or '', its PTTL, best id, best weight, ms the best stays live, settle PTTL}.</summary>
    public const string Read = Functions + "\n" + """
        local v = redis.call('GET', KEYS[1]) or ''
        local pttl = redis.call('PTTL', KEYS[1])
        local bid, bw, bx = best(KEYS[2], now_ms())
        return {v, pttl, bid, bw, bx, redis.call('PTTL', KEYS[3])}
        """;

    /// <summary>KEYS: candidates. ARGV: id, weight, highest epoch seen, TTL ms, channel. Returns 1 for a candidate that was not live before (announced on the channel).</summary>
    public const string Register = Functions + "\n" + """
        local fresh = register(KEYS[1], ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4]), now_ms())
        if fresh == 1 then redis.call('PUBLISH', ARGV[5], 'candidate') end
        return fresh
        """;

    /// <summary>
    /// KEYS: leader, epoch, candidates, settle. ARGV: leader record (JSON object), TTL ms, highest epoch seen, channel, candidate id.
    /// Returns {0, holder's value} when someone leads, {2, ms} while settling, {1, our value with its epoch} when won.
    /// The epoch counter is raised to the highest epoch the campaigner or any live candidate saw before INCR, so it
    /// never goes back after Redis lost it; a missing counter (first start, data lost) fences one TTL first, so a
    /// leader from before steps down and the live candidates re-register what they saw.
    /// </summary>
    public const string Campaign = Functions + "\n" + """
        local cur = redis.call('GET', KEYS[1])
        if cur then return {0, cur} end
        local settle = redis.call('PTTL', KEYS[4])
        if settle > 0 then return {2, settle} end
        local _, _, _, seen = best(KEYS[3], now_ms())
        local floor = math.max(tonumber(ARGV[3]), seen)
        local counter = redis.call('GET', KEYS[2])
        if not counter then
          redis.call('SET', KEYS[2], string.format('%d', floor))
          redis.call('SET', KEYS[4], '1', 'PX', ARGV[2])
          redis.call('PUBLISH', ARGV[4], 'settling')
          return {2, tonumber(ARGV[2])}
        end
        if tonumber(counter) < floor then redis.call('SET', KEYS[2], string.format('%d', floor)) end
        local e = redis.call('INCR', KEYS[2])
        local value = '{"epoch":' .. string.format('%d', e) .. ',"candidate":' .. cjson.encode(ARGV[5]) .. ',' .. string.sub(ARGV[1], 2)
        redis.call('SET', KEYS[1], value, 'PX', ARGV[2])
        redis.call('PUBLISH', ARGV[4], 'elected')
        return {1, value}
        """;

    /// <summary>
    /// KEYS: leader, candidates. ARGV: our value, TTL ms, id, weight, epoch. Extends the key only if it still holds our
    /// value. Returns {0, holder's value or ''} when it does not; else {1, id, weight} of a live candidate with a higher
    /// weight than ours ('' when none).
    /// </summary>
    public const string Renew = Functions + "\n" + """
        local cur = redis.call('GET', KEYS[1])
        if cur ~= ARGV[1] then return {0, cur or ''} end
        redis.call('PEXPIRE', KEYS[1], ARGV[2])
        local now = now_ms()
        register(KEYS[2], ARGV[3], tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[2]), now)
        local bid, bw = best(KEYS[2], now)
        if bw > tonumber(ARGV[4]) then return {1, bid, bw} end
        return {1, '', 0}
        """;

    /// <summary>
    /// KEYS: leader, candidates. ARGV: our value, channel, candidate id. Deletes the key only if it still holds our value,
    /// and our candidate registration (re-registered later, we rank as a newcomer among equal weights); 1 when deleted.
    /// </summary>
    public const string Resign = """
        redis.call('HDEL', KEYS[2], ARGV[3])
        if redis.call('GET', KEYS[1]) == ARGV[1] then
          redis.call('DEL', KEYS[1])
          redis.call('PUBLISH', ARGV[2], 'resigned')
          return 1
        end
        return 0
        """;

    /// <summary>
    /// KEYS: members. ARGV: id, lifetime ms, presence record, channel. Sets the member's field to
    /// <c>"expires|version|record"</c>; the version is kept while the member stays live and is the Redis time of a new
    /// registration. Publishes on the channel when the member is new or its record changed. Returns the version.
    /// </summary>
    public const string MemberRegister = """
        local t = redis.call('TIME')
        local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
        local old = redis.call('HGET', KEYS[1], ARGV[1])
        local version, changed = now, 1
        if old then
          local exp, v = string.match(old, '^(%d+)|(%d+)|')
          if exp and tonumber(exp) > now then
            version = tonumber(v)
            if string.sub(old, #exp + #v + 3) == ARGV[3] then changed = 0 end
          end
        end
        redis.call('HSET', KEYS[1], ARGV[1], string.format('%d|%d|', now + tonumber(ARGV[2]), version) .. ARGV[3])
        redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[2]) * 4)
        if changed == 1 then redis.call('PUBLISH', ARGV[4], 'member') end
        return version
        """;

    /// <summary>
    /// KEYS: members. ARGV: channel. Removes expired members (publishing when it removed any) and returns the live ones
    /// as a flat list: id, version, record, id, version, record, ...
    /// </summary>
    public const string MemberList = """
        local t = redis.call('TIME')
        local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
        local all = redis.call('HGETALL', KEYS[1])
        local out, purged = {}, 0
        for i = 1, #all, 2 do
          local exp, v = string.match(all[i + 1], '^(%d+)|(%d+)|')
          if exp and tonumber(exp) > now then
            out[#out + 1] = all[i]
            out[#out + 1] = v
            out[#out + 1] = string.sub(all[i + 1], #exp + #v + 3)
          else
            redis.call('HDEL', KEYS[1], all[i])
            purged = purged + 1
          end
        end
        if purged > 0 then redis.call('PUBLISH', ARGV[1], 'gone') end
        return out
        """;

    /// <summary>KEYS: members. ARGV: id, channel. Removes the member (a graceful leave) and publishes.</summary>
    public const string MemberLeave = """
        if redis.call('HDEL', KEYS[1], ARGV[1]) == 1 then redis.call('PUBLISH', ARGV[2], 'gone') end
        return 1
        """;
}
