-- GET with an optional bearer token: wrk -s get.lua <url> -- [token]
function init(args)
  if args[1] and args[1] ~= "" then
    wrk.headers["Authorization"] = "Bearer " .. args[1]
  end
end
