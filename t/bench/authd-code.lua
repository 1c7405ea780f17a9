-- wrk script: authorization_code grants at the token endpoint, a public
-- client proving PKCE, each request with a code of its own (authd-pool.lua).
-- Environment: POOL, THREADS, CLIENT_ID, REDIRECT_URI, CODE_VERIFIER.

local here = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
dofile(here .. "authd-pool.lua")

local body
local headers = { ["Content-Type"] = "application/x-www-form-urlencoded" }

function init(args)
    pool_load()
    body = "grant_type=authorization_code"
        .. "&client_id=" .. form_encode(env("CLIENT_ID"))
        .. "&redirect_uri=" .. form_encode(env("REDIRECT_URI"))
        .. "&code_verifier=" .. form_encode(env("CODE_VERIFIER"))
        .. "&code="
end

function request()
    return wrk.format("POST", nil, headers, body .. form_encode(pool_next()))
end
