-- Shared by the token endpoint's wrk scripts (authd-code.lua,
-- authd-refresh.lua): each request spends the next credential of POOL, a
-- file of codes or refresh tokens created in advance, one per line.
-- Thread k of THREADS takes lines k+1, k+1+THREADS, ... so that no two
-- threads share one and none is sent twice.  A thread that runs out sends
-- "exhausted", which any server refuses: the run then shows non-2xx
-- responses instead of quietly reusing credentials.

local threads = 0

function setup(thread)
    thread:set("id", threads)
    threads = threads + 1
end

local credentials = {}
local count = 0
local next_one = 0

function pool_load()
    local path = os.getenv("POOL")
    local n = tonumber(os.getenv("THREADS"))
    local line_no = 0

    for line in io.lines(path) do
        if line_no % n == id then
            count = count + 1
            credentials[count] = line
        end
        line_no = line_no + 1
    end
end

function pool_next()
    next_one = next_one + 1

    if next_one > count then
        return "exhausted"
    end

    return credentials[next_one]
end

-- application/x-www-form-urlencoded, as a browser or an OAuth library
-- would encode a value
function form_encode(s)
    return (string.gsub(s, "[^A-Za-z0-9._~-]", function (c)
        return string.format("%%%02X", string.byte(c))
    end))
end

function env(name)
    local value = os.getenv(name)

    if value == nil or value == "" then
        error(name .. " is not set")
    end

    return value
end
