-- wrk script: each request carries the next token from TOKENS (one per
-- line), cycling; with as many tokens as requests, every token is new.

local tokens = {}
local n = 0
local i = 0

function init(args)
    local path = os.getenv("TOKENS")
    for line in io.lines(path) do
        n = n + 1
        tokens[n] = line
    end
    -- threads start at different places in the list
    i = math.random(0, n - 1)
end

function request()
    i = i % n + 1
    return wrk.format("GET", nil, { ["Authorization"] = "Bearer " .. tokens[i] })
end
