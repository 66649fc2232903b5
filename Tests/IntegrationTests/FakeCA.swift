import Foundation

/// A deliberately broken ACME server over HTTPS (Python's http.server), for the failure paths
/// Pebble will not produce: a malformed directory, a 500 in the middle of the protocol, a CA
/// in maintenance (every POST a 503 problem with `Retry-After: 1`).
final class FakeCA: @unchecked Sendable {
    enum Mode: String { case malformedDirectory = "malformed", serverErrorOnAccount = "error500", maintenance }

    let port: Int
    let caBundle: String
    private let process: Process

    var directoryURL: String { "https://localhost:\(port)/dir" }

    init(mode: Mode) throws {
        let dir = try TestSupport.temporaryDirectory("fakeca")
        port = TestSupport.freePort()
        caBundle = dir + "/cert.pem"
        let tls = try run("/usr/bin/openssl", ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                                               "-keyout", dir + "/key.pem", "-out", caBundle, "-days", "2", "-subj", "/CN=localhost",
                                               "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"])
        guard tls.status == 0 else { throw TestFailure("openssl: \(tls.stderr)") }
        let script = """
        import http.server, ssl, sys, json
        mode, port = sys.argv[1], int(sys.argv[2])
        base = "https://localhost:%d" % port
        class H(http.server.BaseHTTPRequestHandler):
            def log_message(self, *a): pass
            def send(self, code, body, ctype="application/json", nonce=True):
                self.send_response(code)
                self.send_header("Content-Type", ctype)
                if nonce: self.send_header("Replay-Nonce", "bm9uY2Vub25jZQ")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
            def do_GET(self):
                if mode == "malformed":
                    self.send(200, b'{"newNonce": 42, this is not json', nonce=False)
                else:
                    self.send(200, json.dumps({"newNonce": base + "/nonce", "newAccount": base + "/acct",
                                               "newOrder": base + "/order"}).encode(), nonce=False)
            def do_HEAD(self):
                self.send_response(200); self.send_header("Replay-Nonce", "bm9uY2Vub25jZQ"); self.end_headers()
            def do_POST(self):
                self.rfile.read(int(self.headers.get("Content-Length", 0)))
                if mode == "maintenance":
                    self.send_response(503)
                    body = json.dumps({"type": "urn:ietf:params:acme:error:serverInternal",
                                       "detail": "down for maintenance\\x1b[2J", "status": 503}).encode()
                    for name, value in (("Content-Type", "application/problem+json"), ("Retry-After", "1"),
                                        ("Content-Length", str(len(body)))):
                        self.send_header(name, value)
                    self.end_headers()
                    self.wfile.write(body)
                    return
                self.send(500, b"internal server error: database on fire", ctype="text/plain")
        srv = http.server.HTTPServer(("127.0.0.1", port), H)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(sys.argv[3], sys.argv[4])
        srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
        srv.serve_forever()
        """
        try script.write(toFile: dir + "/fakeca.py", atomically: true, encoding: .utf8)
        process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/python3")
        process.arguments = [dir + "/fakeca.py", mode.rawValue, String(port), caBundle, dir + "/key.pem"]
        process.standardOutput = FileHandle(forWritingAtPath: "/dev/null")
        try process.run()
        for _ in 0..<100 {
            if (try? run("/usr/bin/curl", ["-s", "-o", "/dev/null", "--cacert", caBundle, directoryURL]))?.status == 0 { return }
            usleep(50_000)
        }
        throw TestFailure("the fake CA did not start on port \(port)")
    }

    deinit {
        stopProcess(process)
    }
}
