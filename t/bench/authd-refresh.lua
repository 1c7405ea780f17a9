-- wrk script: refresh_token grants at the token endpoint, a public client,
-- each request with a refresh token of its own (authd-pool.lua): the
-- server rotates it, and the new one it returns is not used.
-- Environment: POOL, THREADS, CLIENT_ID.

local here = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
dofile(here .. "authd-pool.lua")

local body
local headers = { ["Content-Type"] = "application/x-www-form-urlencoded" }

function init(args)
    pool_load()
    body = "grant_type=refresh_token"
        .. "&client_id=" .. form_encode(env("CLIENT_ID"))
        .. "&refresh_token="
end

function request()
    return wrk.format("POST", nil, headers, body .. form_encode(pool_next()))
end
