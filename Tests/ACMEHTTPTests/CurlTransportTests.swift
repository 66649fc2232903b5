import Base
import Foundation
import TestFixtures
import Testing
@testable import ACMEHTTP

/// A real HTTPS server (python3 + a throwaway CA made with openssl) that
/// reports which TCP connection served each request.
final class TLSServer: @unchecked Sendable {
    let directory: URL
    let port: Int
    let process: Process
    var caPath: String { directory.appendingPathComponent("ca.pem").path }
    var base: String { "https://localhost:\(port)" }

    static let script = #"""
import http.server, ssl, sys, time
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def log_message(self, *a): pass
    def reply(self, status, body, extra=()):
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("X-Client-Port", str(self.client_address[1]))
        for k, v in extra: self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD": self.wfile.write(body)
    def do_HEAD(self): self.reply(200, b"", [("Replay-Nonce", "n1")])
    def do_GET(self):
        if self.path == "/big": self.reply(200, b"x" * (5 << 20))
        elif self.path == "/slow": time.sleep(3); self.reply(200, b"late")
        elif self.path == "/redirect": self.reply(302, b"", [("Location", "/elsewhere")])
        else: self.reply(200, ("ua=" + self.headers.get("User-Agent", "")).encode())
    def do_POST(self):
        n = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(n)
        self.reply(201, body, [("Content-Type-Seen", self.headers.get("Content-Type", ""))])
srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(sys.argv[1], sys.argv[2])
srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
print(srv.server_address[1], flush=True)
srv.serve_forever()
"""#

    init() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("acme-http-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let d = directory.path
        try Self.shell("""
            cd \(d) && openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout ca.key -out ca.pem -days 2 -subj /CN=test-ca 2>/dev/null && \
            openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout leaf.key -out leaf.csr -subj /CN=localhost 2>/dev/null && \
            printf 'subjectAltName=DNS:localhost\\n' > ext && \
            openssl x509 -req -in leaf.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out leaf.pem -days 2 -extfile ext 2>/dev/null
            """)
        try Self.script.write(to: directory.appendingPathComponent("server.py"), atomically: true, encoding: .utf8)
        process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/python3")
        process.arguments = ["\(d)/server.py", "\(d)/leaf.pem", "\(d)/leaf.key"]
        let out = Pipe()
        process.standardOutput = out
        try process.run()
        var line = [UInt8]()
        while let byte = try out.fileHandleForReading.read(upToCount: 1)?.first, byte != 10 { line.append(byte) }
        guard let port = Int(String(decoding: line, as: UTF8.self)) else {
            throw CocoaError(.fileReadCorruptFile, userInfo: [NSLocalizedDescriptionKey: "python TLS test server did not start"])
        }
        self.port = port
    }

    deinit {
        // SIGKILL: children of the test runner may inherit a blocked SIGTERM.
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
        try? FileManager.default.removeItem(at: directory)
    }

    static func shell(_ command: String) throws {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/bin/sh")
        p.arguments = ["-c", command]
        try p.run()
        p.waitUntilExit()
        guard p.terminationStatus == 0 else { throw CocoaError(.executableLoad, userInfo: [NSLocalizedDescriptionKey: "failed: \(command)"]) }
    }
}

@Suite("libcurl transport against a real TLS server", .serialized, .integration)
struct CurlTransportTests {
    @Test("verification is on: a private CA fails without --ca-bundle, with a hint")
    func tlsFailureHint() async throws {
        let server = try TLSServer()
        let transport = try CurlTransport(configuration: HTTPConfiguration(userAgent: "acme/test"))
        do {
            _ = try await transport.send(HTTPRequest(method: .get, url: server.base + "/"))
            Issue.record("request to an untrusted server succeeded")
        } catch let error as HTTPError {
            #expect(error.code == .tls)
            #expect(error.description.contains("localhost:\(server.port)"))
            #expect(error.description.contains("give it as \(SettingName.caBundle)"))  // the CLI adds --ca-bundle (FailureTests)
        }
    }

    @Test("one connection is reused for GET, HEAD and POST; User-Agent is sent")
    func reuse() async throws {
        let server = try TLSServer()
        let transport = try CurlTransport(configuration: HTTPConfiguration(caBundle: server.caPath, userAgent: "acme/9.9"))
        let get = try await transport.send(HTTPRequest(method: .get, url: server.base + "/"))
        #expect(get.status == 200)
        #expect(get.bodyText == "ua=acme/9.9")
        let head = try await transport.send(HTTPRequest(method: .head, url: server.base + "/nonce"))
        #expect(head.header("Replay-Nonce") == "n1")
        #expect(head.body.isEmpty)
        let post = try await transport.send(HTTPRequest(method: .post, url: server.base + "/p",
                                                        headers: ["Content-Type": "application/jose+json"], body: Array("{\"a\":1}".utf8)))
        #expect(post.status == 201)
        #expect(post.bodyText == "{\"a\":1}")
        #expect(post.header("Content-Type-Seen") == "application/jose+json")
        let again = try await transport.send(HTTPRequest(method: .get, url: server.base + "/"))
        let ports = Set([get, head, post, again].compactMap { $0.header("X-Client-Port") })
        #expect(ports.count == 1, "expected one reused connection, saw client ports \(ports)")
        #expect(transport.requestCount == 4)
    }

    @Test("redirects are not followed")
    func noRedirects() async throws {
        let server = try TLSServer()
        let transport = try CurlTransport(configuration: HTTPConfiguration(caBundle: server.caPath, userAgent: "acme/test"))
        let response = try await transport.send(HTTPRequest(method: .get, url: server.base + "/redirect"))
        #expect(response.status == 302)
        #expect(response.header("Location") == "/elsewhere")
    }

    @Test("oversized responses are refused")
    func sizeCap() async throws {
        let server = try TLSServer()
        let transport = try CurlTransport(configuration: HTTPConfiguration(caBundle: server.caPath, userAgent: "acme/test", maxResponseBytes: 1 << 20))
        #expect((await #expect(throws: HTTPError.self) { try await transport.send(HTTPRequest(method: .get, url: server.base + "/big")) })?.code == .tooLarge)
        do {
            _ = try await transport.send(HTTPRequest(method: .get, url: server.base + "/big"))
        } catch let error as HTTPError {
            #expect(error.code == .tooLarge)
        }
        // The handle stays usable afterwards.
        #expect(try await transport.send(HTTPRequest(method: .get, url: server.base + "/")).status == 200)
    }

    @Test("timeouts and refused connections are reported as such")
    func timeoutsAndRefusal() async throws {
        let server = try TLSServer()
        let transport = try CurlTransport(configuration: HTTPConfiguration(caBundle: server.caPath, userAgent: "acme/test", requestTimeout: .seconds(1)))
        do {
            _ = try await transport.send(HTTPRequest(method: .get, url: server.base + "/slow"))
            Issue.record("slow request did not time out")
        } catch let error as HTTPError {
            #expect(error.code == .timeout)
        }
        do {
            _ = try await transport.send(HTTPRequest(method: .get, url: "https://127.0.0.1:1/dir"))
            Issue.record("connection to a closed port succeeded")
        } catch let error as HTTPError {
            #expect(error.code == .connect)
            #expect(error.description.contains("127.0.0.1:1"))
        }
    }

    @Test("an unreadable CA bundle is a clear error")
    func badBundle() {
        #expect((#expect(throws: HTTPError.self) { try CurlTransport(configuration: HTTPConfiguration(caBundle: "/nonexistent/ca.pem", userAgent: "x")) })?.code == .caBundle)
    }
}
