import http.server, json, sys, time, base64, os, threading
port = int(sys.argv[1])
issuer = f"http://127.0.0.1:{port}"
state = {"kid": "k1", "hits": {}}
def key(kid):
    return {"kty": "oct", "kid": kid, "alg": "HS256", "use": "sig",
            "k": base64.urlsafe_b64encode(os.urandom(32)).rstrip(b"=").decode()}
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def log_message(self, *a): pass
    def send(self, code, body, ctype="application/json"):
        b = body.encode()
        self.send_response(code); self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(b))); self.end_headers(); self.wfile.write(b)
    def do_GET(self):
        p = self.path.split("?")[0]
        state["hits"][p] = state["hits"].get(p, 0) + 1
        sys.stderr.write(f"{time.strftime('%H:%M:%S')} GET {self.path} Host={self.headers.get('Host')}\n"); sys.stderr.flush()
        issuer = "http://" + self.headers.get("Host")
        if p == "/.well-known/openid-configuration":
            self.send(200, json.dumps({"issuer": issuer, "authorization_endpoint": issuer + "/authorize",
                "token_endpoint": issuer + "/token", "jwks_uri": issuer + "/jwks"}))
        elif p == "/jwks":
            self.send(200, json.dumps({"keys": [key(state["kid"])]}))
        elif p == "/rotate":
            state["kid"] = "k%d" % (int(state["kid"][1:]) + 1); self.send(200, state["kid"], "text/plain")
        elif p == "/slow":
            time.sleep(3); self.send(200, "slow done", "text/plain")
        elif p == "/hits":
            self.send(200, json.dumps(state["hits"]))
        else:
            self.send(404, "{}")
http.server.ThreadingHTTPServer(("127.0.0.1", port), H).serve_forever()
