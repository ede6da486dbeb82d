"""The two atomic lockout scripts, each in Lua for Redis and in Python for memory."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Final

from jivs_security.errors import StoreError
from jivs_security.passwords._lockout_policy import lock_delay
from jivs_security.stores import AtomicScript, ScriptView

__all__ = ["RELEASE", "RESERVE"]


# The two atomic scripts. Each counter value is "<failures> <last>", where
# <last> is the caller's clock at the last counted attempt, stored as the
# exact text the caller sent. Both halves compare times with the caller's
# clock, not the store's, and treat a counter whose last failure is a whole
# failure window old as absent, so a fake clock in tests moves both alike.

# Reserve: if any counter is locked, return {0, scope index, milliseconds of
# the longest wait} and write nothing. Otherwise count the attempt as a
# failure on every counter and return {1, failures, previous last, ...} per
# key, so a later success or cancel can restore the previous time.
# ARGV: now, failure window in ms, base delay, max delay, max failures of the
# account counter (KEYS[1]), then the threshold of each key.
_RESERVE_LUA = """
local now = tonumber(ARGV[1])
local window = tonumber(ARGV[2]) / 1000
local base_delay = tonumber(ARGV[3])
local max_delay = tonumber(ARGV[4])
local max_failures = tonumber(ARGV[5])

local function locked_until(index, failures, last)
    if index == 1 and failures >= max_failures then
        return last + window
    end
    local threshold = tonumber(ARGV[5 + index])
    if failures < threshold then
        return 0
    end
    local doublings = failures - threshold
    local delay = max_delay
    if doublings < 63 then
        delay = math.min(base_delay * 2 ^ doublings, max_delay)
    end
    return last + delay
end

local counts = {}
local lasts = {}
local wait = 0
local scope = 0
for index = 1, #KEYS do
    local failures = 0
    local last_text = ''
    local raw = redis.call('GET', KEYS[index])
    if raw then
        local count_text, time_text = string.match(raw, '^(%d+) (%S+)$')
        local last = tonumber(time_text)
        if count_text == nil or last == nil then
            return redis.error_reply('lockout counter ' .. KEYS[index] .. ' has an invalid value')
        end
        if last + window > now then
            failures = tonumber(count_text)
            last_text = time_text
            local until_time = locked_until(index, failures, last)
            if until_time > now then
                local milliseconds = math.max(1, math.ceil((until_time - now) * 1000))
                if milliseconds > wait then
                    wait = milliseconds
                    scope = index
                end
            end
        end
    end
    counts[index] = failures
    lasts[index] = last_text
end

if scope > 0 then
    return {0, scope, wait}
end

local reply = {1}
for index = 1, #KEYS do
    redis.call('SET', KEYS[index], (counts[index] + 1) .. ' ' .. ARGV[1], 'PX', ARGV[2])
    reply[#reply + 1] = counts[index] + 1
    reply[#reply + 1] = lasts[index]
end
return reply
"""

# Release: take one reserved attempt back off every counter, restoring the
# previous last-failure time if no later attempt replaced it, and keep the
# remaining failure window as the TTL. With reset set, delete the account
# and (account, IP) counters (KEYS[1] and KEYS[2]) instead: a success.
# ARGV: now, the reservation's time text, failure window in ms, reset flag
# ("1" or "0"), then the previous last-failure text of each key.
_RELEASE_LUA = """
local now = tonumber(ARGV[1])
local window = tonumber(ARGV[3]) / 1000
local reset = ARGV[4] == '1'
for index = 1, #KEYS do
    if reset and index <= 2 then
        redis.call('DEL', KEYS[index])
    else
        local raw = redis.call('GET', KEYS[index])
        if raw then
            local count_text, time_text = string.match(raw, '^(%d+) (%S+)$')
            if count_text == nil or tonumber(time_text) == nil then
                local message = 'lockout counter ' .. KEYS[index] .. ' has an invalid value'
                return redis.error_reply(message)
            end
            local failures = tonumber(count_text) - 1
            if time_text == ARGV[2] and ARGV[4 + index] ~= '' then
                time_text = ARGV[4 + index]
            end
            local remaining = math.ceil((tonumber(time_text) + window - now) * 1000)
            if failures <= 0 or remaining <= 0 then
                redis.call('DEL', KEYS[index])
            else
                redis.call('SET', KEYS[index], failures .. ' ' .. time_text, 'PX', remaining)
            end
        end
    end
end
return 1
"""


def _parse_counter(key: str, raw: bytes, operation: str) -> tuple[int, str, float]:
    """Split a counter value into failures, last-failure text and last-failure time."""
    count_text, _, time_text = raw.decode("ascii", "replace").partition(" ")
    try:
        if not count_text.isdigit():
            raise ValueError(count_text)
        return int(count_text), time_text, float(time_text)
    except ValueError:
        raise StoreError(
            f"lockout counter {key} has an invalid value",
            backend="MemoryStore",
            operation=f"run_script({operation})",
        ) from None


def _reserve_python(view: ScriptView, keys: Sequence[str], args: Sequence[str]) -> list[object]:
    now = float(args[0])
    window = int(args[1]) / 1000
    base_delay, max_delay = float(args[2]), float(args[3])
    max_failures = int(args[4])

    counts: list[int] = []
    lasts: list[str] = []
    wait, scope = 0, 0
    for index, key in enumerate(keys, start=1):
        failures, last_text = 0, ""
        raw = view.get(key)
        if raw is not None:
            stored, time_text, last = _parse_counter(key, raw, "lockout-reserve")
            if last + window > now:
                failures, last_text = stored, time_text
                if index == 1 and failures >= max_failures:
                    until = last + window
                else:
                    threshold = int(args[4 + index])
                    delay = lock_delay(failures, threshold, base_delay, max_delay)
                    until = last + delay if failures >= threshold else 0.0
                if until > now:
                    milliseconds = max(1, math.ceil((until - now) * 1000))
                    if milliseconds > wait:
                        wait, scope = milliseconds, index
        counts.append(failures)
        lasts.append(last_text)

    if scope > 0:
        return [0, scope, wait]

    reply: list[object] = [1]
    for key, failures, last_text in zip(keys, counts, lasts, strict=True):
        view.set(key, f"{failures + 1} {args[0]}".encode("ascii"), window)
        reply += [failures + 1, last_text.encode("ascii")]
    return reply


def _release_python(view: ScriptView, keys: Sequence[str], args: Sequence[str]) -> int:
    now = float(args[0])
    window = int(args[2]) / 1000
    reset = args[3] == "1"
    for index, key in enumerate(keys, start=1):
        if reset and index <= 2:
            view.delete(key)
            continue
        raw = view.get(key)
        if raw is None:
            continue
        stored, time_text, _ = _parse_counter(key, raw, "lockout-release")
        failures = stored - 1
        if time_text == args[1] and args[3 + index] != "":
            time_text = args[3 + index]
        remaining = math.ceil((float(time_text) + window - now) * 1000)
        if failures <= 0 or remaining <= 0:
            view.delete(key)
        else:
            view.set(key, f"{failures} {time_text}".encode("ascii"), remaining / 1000)
    return 1


RESERVE: Final = AtomicScript(name="lockout-reserve", lua=_RESERVE_LUA, python=_reserve_python)
RELEASE: Final = AtomicScript(name="lockout-release", lua=_RELEASE_LUA, python=_release_python)
