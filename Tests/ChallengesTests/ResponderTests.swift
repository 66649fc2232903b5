import Foundation
import Testing
@testable import Challenges

/// A raw TCP client, so the tests see exactly what the responder sends.
enum RawClient {
    static func connect(port: Int, host: String = "127.0.0.1") -> Int32? {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var timeout = timeval(tv_sec: 10, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var sa = sockaddr_in()
        sa.sin_family = sa_family_t(AF_INET)
        sa.sin_port = in_port_t(UInt16(port).bigEndian)
        inet_pton(AF_INET, host, &sa.sin_addr)
        let rc = withUnsafePointer(to: &sa) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        if rc != 0 { close(fd); return nil }
        return fd
    }

    /// Sends `request` and returns everything until the server closes.
    static func exchange(port: Int, _ request: String) -> String? {
        guard let fd = connect(port: port) else { return nil }
        defer { close(fd) }
        let bytes = Array(request.utf8)
        _ = bytes.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
        var out = [UInt8]()
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = recv(fd, &buffer, buffer.count, 0)
            if n <= 0 { break }
            out += buffer.prefix(n)
        }
        return String(decoding: out, as: UTF8.self)
    }

    static func get(port: Int, _ path: String, method: String = "GET") -> (status: Int, body: String)? {
        guard let text = exchange(port: port, "\(method) \(path) HTTP/1.1\r\nHost: mail.example.test\r\n\r\n") else { return nil }
        let parts = text.components(separatedBy: "\r\n\r\n")
        let statusLine = parts[0].components(separatedBy: "\r\n")[0].split(separator: " ")
        guard statusLine.count >= 2, let status = Int(statusLine[1]) else { return nil }
        return (status, parts.dropFirst().joined(separator: "\r\n\r\n"))
    }
}

@Suite("HTTP-01 responder on real sockets", .serialized)
struct ResponderTests {
    let token = "LoqXcYV8q5ONbJQxbmR7SCTNo3tiAXDfowyjxAjEuX0"
    let keyAuthorization = "LoqXcYV8q5ONbJQxbmR7SCTNo3tiAXDfowyjxAjEuX0.9jg46WB3rR_AHD-EBXdN7cBkH1WOu0tA3M9fm21mqTI"

    func started() throws -> HTTP01Responder {
        let responder = HTTP01Responder(address: "127.0.0.1", port: 0)
        try responder.start()
        #expect(responder.port > 0)
        return responder
    }

    @Test("serves exactly the key authorization of a live token, and only that")
    func servesLiveTokens() throws {
        let responder = try started()
        defer { responder.stop() }
        #expect(RawClient.get(port: responder.port, "/.well-known/acme-challenge/\(token)")?.status == 404)
        responder.add(token: token, keyAuthorization: keyAuthorization)
        let hit = RawClient.get(port: responder.port, "/.well-known/acme-challenge/\(token)")
        #expect(hit?.status == 200)
        #expect(hit?.body == keyAuthorization)
        let head = RawClient.get(port: responder.port, "/.well-known/acme-challenge/\(token)", method: "HEAD")
        #expect(head?.status == 200 && head?.body == "")
        #expect(RawClient.get(port: responder.port, "/.well-known/acme-challenge/other")?.status == 404)
        #expect(RawClient.get(port: responder.port, "/.well-known/acme-challenge/\(token)?x=1")?.status == 404)
        #expect(RawClient.get(port: responder.port, "/.well-known/acme-challenge/../\(token)")?.status == 404)
        #expect(RawClient.get(port: responder.port, "/")?.status == 404)
        #expect(RawClient.get(port: responder.port, "/.well-known/acme-challenge/\(token)", method: "POST")?.status == 405)
        #expect(responder.servedCount == 2)
        responder.remove(token: token)
        #expect(RawClient.get(port: responder.port, "/.well-known/acme-challenge/\(token)")?.status == 404)
    }

    @Test("an oversized request is refused and the responder keeps serving")
    func oversized() throws {
        let responder = try started()
        defer { responder.stop() }
        responder.add(token: token, keyAuthorization: keyAuthorization)
        let huge = "GET /.well-known/acme-challenge/\(token) HTTP/1.1\r\nX-Junk: \(String(repeating: "a", count: 10_000))\r\n\r\n"
        let reply = RawClient.exchange(port: responder.port, huge) ?? ""
        #expect(!reply.hasPrefix("HTTP/1.1 200"))
        #expect(RawClient.get(port: responder.port, "/.well-known/acme-challenge/\(token)")?.status == 200)
    }

    @Test("a silent client does not block others")
    func slowClient() throws {
        let responder = try started()
        defer { responder.stop() }
        responder.add(token: token, keyAuthorization: keyAuthorization)
        let idle = try #require(RawClient.connect(port: responder.port))
        defer { close(idle) }
        let start = Date()
        #expect(RawClient.get(port: responder.port, "/.well-known/acme-challenge/\(token)")?.status == 200)
        #expect(Date().timeIntervalSince(start) < 4)
    }

    @Test("port in use: the error names the port and suggests --webroot")
    func portInUse() throws {
        let first = try started()
        defer { first.stop() }
        let second = HTTP01Responder(address: "127.0.0.1", port: first.port)
        do {
            try second.start()
            second.stop()
            Issue.record("second bind on port \(first.port) succeeded")
        } catch let error as ChallengeError {
            #expect(error.description.contains("port \(first.port)"))
            #expect(error.description.contains("--webroot"))
        }
    }

    @Test("stop closes the port and start works again")
    func stopAndRestart() throws {
        let responder = HTTP01Responder(address: "127.0.0.1", port: 0)
        try responder.start()
        let port = responder.port
        responder.stop()
        #expect(RawClient.connect(port: port) == nil)
        try responder.start()
        responder.add(token: token, keyAuthorization: keyAuthorization)
        #expect(RawClient.get(port: responder.port, "/.well-known/acme-challenge/\(token)")?.status == 200)
        responder.stop()
        responder.stop()  // idempotent
    }

    @Test("default bind is dual-stack on all addresses")
    func dualStack() throws {
        let responder = HTTP01Responder(address: nil, port: 0)
        try responder.start()
        defer { responder.stop() }
        responder.add(token: token, keyAuthorization: keyAuthorization)
        #expect(RawClient.get(port: responder.port, "/.well-known/acme-challenge/\(token)")?.status == 200)
    }

    @Test("a bad --http-01-address is a clear error")
    func badAddress() {
        #expect(throws: ChallengeError.self) { try HTTP01Responder(address: "mail.example.test", port: 0).start() }
    }

    @Test("token validation", arguments: [
        ("abc-DEF_123", true), ("", false), ("../etc", false), ("a/b", false), ("a.b", false), (String(repeating: "a", count: 257), false),
    ])
    func tokens(token: String, valid: Bool) {
        #expect(isValidChallengeToken(token) == valid)
    }
}

@Suite("webroot")
struct WebrootTests {
    func temporaryRoot() throws -> String {
        let path = NSTemporaryDirectory() + "acme-webroot-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }

    @Test("writes token files and removes them and the directories it created")
    func lifecycle() throws {
        let root = try temporaryRoot()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let solver = try WebrootSolver(root: root)
        try solver.add(token: "tok1", keyAuthorization: "tok1.thumb")
        try solver.add(token: "tok2", keyAuthorization: "tok2.thumb")
        let file = root + "/.well-known/acme-challenge/tok1"
        #expect(try String(contentsOfFile: file, encoding: .utf8) == "tok1.thumb")
        let attributes = try FileManager.default.attributesOfItem(atPath: file)
        #expect((attributes[.posixPermissions] as? Int) == 0o644)
        solver.remove(token: "tok1")
        #expect(!FileManager.default.fileExists(atPath: file))
        solver.removeAll()
        #expect(!FileManager.default.fileExists(atPath: root + "/.well-known"))
        #expect(try FileManager.default.contentsOfDirectory(atPath: root).isEmpty)
    }

    @Test("keeps a .well-known directory that was already there")
    func keepsExisting() throws {
        let root = try temporaryRoot()
        defer { try? FileManager.default.removeItem(atPath: root) }
        try FileManager.default.createDirectory(atPath: root + "/.well-known", withIntermediateDirectories: true)
        try "x".write(toFile: root + "/.well-known/security.txt", atomically: true, encoding: .utf8)
        let solver = try WebrootSolver(root: root)
        try solver.add(token: "tok", keyAuthorization: "tok.thumb")
        solver.removeAll()
        #expect(FileManager.default.fileExists(atPath: root + "/.well-known/security.txt"))
        #expect(!FileManager.default.fileExists(atPath: root + "/.well-known/acme-challenge"))
    }

    @Test("rejects bad tokens and missing roots")
    func rejects() throws {
        let root = try temporaryRoot()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let solver = try WebrootSolver(root: root)
        #expect(throws: ChallengeError.self) { try solver.add(token: "../../etc/passwd", keyAuthorization: "x") }
        #expect(throws: ChallengeError.self) { try WebrootSolver(root: root + "/missing") }
    }
}
