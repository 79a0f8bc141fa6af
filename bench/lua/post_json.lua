-- POST a fixed JSON body: wrk -s post_json.lua <url> -- '<json>'
function init(args)
  wrk.method = "POST"
  wrk.body = args[1]
  wrk.headers["Content-Type"] = "application/json"
end
