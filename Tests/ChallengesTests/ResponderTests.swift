import Base
import Foundation
import TestFixtures
import Testing
@testable import Challenges

/// A raw TCP client, so the tests see exactly what the responder sends.
enum RawClient {
    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    /// A connected socket to `host` (a numeric IPv4 or IPv6 address): AF_INET6 for an IPv6
    /// address, AF_INET for an IPv4 one. Throws with the reason when it cannot connect.
    static func open(port: Int, host: String = "127.0.0.1") throws -> Int32 {
        var v4 = in_addr(), v6 = in6_addr()
        let family: Int32
        if inet_pton(AF_INET, host, &v4) == 1 {
            family = AF_INET
        } else if inet_pton(AF_INET6, host, &v6) == 1 {
            family = AF_INET6
        } else {
            throw Failure(description: "\(host) is not a numeric IPv4 or IPv6 address")
        }
        let shown = family == AF_INET6 ? "[\(host)]:\(port)" : "\(host):\(port)"
        let fd = socket(family, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else {
            throw Failure(description: "cannot create an \(family == AF_INET6 ? "AF_INET6" : "AF_INET") socket for \(shown): \(String(cString: strerror(errno)))")
        }
        var timeout = timeval(tv_sec: 10, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        let rc: Int32
        if family == AF_INET {
            var sa = sockaddr_in()
            sa.sin_family = sa_family_t(AF_INET)
            sa.sin_port = in_port_t(UInt16(port).bigEndian)
            sa.sin_addr = v4
            rc = withUnsafePointer(to: &sa) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        } else {
            var sa = sockaddr_in6()
            sa.sin6_family = sa_family_t(AF_INET6)
            sa.sin6_port = in_port_t(UInt16(port).bigEndian)
            sa.sin6_addr = v6
            rc = withUnsafePointer(to: &sa) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in6>.size)) } }
        }
        if rc != 0 {
            let reason = String(cString: strerror(errno))
            close(fd)
            throw Failure(description: "cannot connect to \(shown): \(reason)")
        }
        return fd
    }

    static func connect(port: Int, host: String = "127.0.0.1") -> Int32? {
        try? open(port: port, host: host)
    }

    /// The address a connected socket talks to, as "127.0.0.1:80" or "[::1]:80".
    static func peer(_ fd: Int32) -> String {
        var storage = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        let rc = withUnsafeMutablePointer(to: &storage) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getpeername(fd, $0, &length) } }
        guard rc == 0 else { return "(getpeername: \(String(cString: strerror(errno))))" }
        var text = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN))
        let family = Int32(storage.ss_family)
        return withUnsafePointer(to: &storage) { pointer in
            switch family {
            case AF_INET:
                return pointer.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { sa in
                    var address = sa.pointee.sin_addr
                    inet_ntop(AF_INET, &address, &text, socklen_t(text.count))
                    return "\(String(cString: text)):\(UInt16(bigEndian: sa.pointee.sin_port))"
                }
            case AF_INET6:
                return pointer.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { sa in
                    var address = sa.pointee.sin6_addr
                    inet_ntop(AF_INET6, &address, &text, socklen_t(text.count))
                    return "[\(String(cString: text))]:\(UInt16(bigEndian: sa.pointee.sin6_port))"
                }
            default:
                return "(address family \(family))"
            }
        }
    }

    /// Sends `request` on a connected socket and returns everything until the server closes.
    /// With `readReply` false it only sends.
    static func exchange(fd: Int32, _ request: String, readReply: Bool = true) -> String {
        let bytes = Array(request.utf8)
        if !bytes.isEmpty { _ = bytes.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) } }
        guard readReply else { return "" }
        var out = [UInt8]()
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = recv(fd, &buffer, buffer.count, 0)
            if n <= 0 { break }
            out += buffer.prefix(n)
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// Sends `request` and returns everything until the server closes.
    static func exchange(port: Int, host: String = "127.0.0.1", _ request: String) -> String? {
        guard let fd = connect(port: port, host: host) else { return nil }
        defer { close(fd) }
        return exchange(fd: fd, request)
    }

    static func request(_ path: String, method: String = "GET") -> String {
        "\(method) \(path) HTTP/1.1\r\nHost: mail.example.test\r\n\r\n"
    }

    /// The status and body of an HTTP response.
    static func parse(_ text: String) -> (status: Int, body: String)? {
        let parts = text.components(separatedBy: "\r\n\r\n")
        let statusLine = parts[0].components(separatedBy: "\r\n")[0].split(separator: " ")
        guard statusLine.count >= 2, let status = Int(statusLine[1]) else { return nil }
        return (status, parts.dropFirst().joined(separator: "\r\n\r\n"))
    }

    static func get(port: Int, _ path: String, method: String = "GET") -> (status: Int, body: String)? {
        exchange(port: port, request(path, method: method)).flatMap(parse)
    }
}

@Suite("HTTP-01 responder on real sockets", .serialized, .integration)
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
        // A deadline no test reaches: the silent client is certainly still held when the other is
        // answered, so the answer did not wait for its deadline (see ResponderFloodTests).
        let responder = HTTP01Responder(address: "127.0.0.1", port: 0, deadlineMilliseconds: FloodBounds.heldDeadlineMilliseconds)
        try responder.start()
        defer { responder.stop() }
        responder.add(token: token, keyAuthorization: keyAuthorization)
        let idle = try #require(RawClient.connect(port: responder.port))
        defer { close(idle) }
        let fd = try RawClient.open(port: responder.port)
        defer { close(fd) }
        FloodBounds.boundReads(fd)
        let reply = RawClient.parse(RawClient.exchange(fd: fd, RawClient.request("/.well-known/acme-challenge/\(token)")))
        #expect(reply?.status == 200, "not answered within \(FloodBounds.answerSeconds) s while a silent client is connected")
        #expect(FloodBounds.isOpen(idle), "the silent client was closed before the other was answered")
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
            #expect(error.description.contains("from the web server that has it (\(SettingName.webroot))"))  // the CLI adds --webroot (FailureTests)
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

    /// Connects over real IPv6 (an AF_INET6 socket to [::1]) and over IPv4 (127.0.0.1). Without
    /// an IPv6 loopback, or when the responder fell back to IPv4 only, this fails: it does not skip.
    @Test("default bind is dual-stack on all addresses")
    func dualStack() throws {
        let responder = HTTP01Responder(address: nil, port: 0)
        try responder.start()
        defer { responder.stop() }
        responder.add(token: token, keyAuthorization: keyAuthorization)
        for (host, peer) in [("::1", "[::1]:\(responder.port)"), ("127.0.0.1", "127.0.0.1:\(responder.port)")] {
            let fd: Int32
            do {
                fd = try RawClient.open(port: responder.port, host: host)
            } catch {
                throw RawClient.Failure(description: "the responder bound to all addresses is not reachable at \(peer): \(error)")
            }
            defer { close(fd) }
            #expect(RawClient.peer(fd) == peer, "the connection for \(host) goes to \(RawClient.peer(fd))")
            let reply = RawClient.parse(RawClient.exchange(fd: fd, RawClient.request("/.well-known/acme-challenge/\(token)")))
            #expect(reply?.status == 200, "over \(peer)")
            #expect(reply?.body == keyAuthorization, "over \(peer)")
        }
        #expect(responder.servedCount == 2)
    }

    @Test("a bad --http-01-address is a clear error")
    func badAddress() {
        #expect((#expect(throws: ChallengeError.self) { try HTTP01Responder(address: "mail.example.test", port: 0).start() })?.code == .invalidSetting)
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
        #expect((#expect(throws: ChallengeError.self) { try solver.add(token: "../../etc/passwd", keyAuthorization: "x") })?.code == .invalidToken)
        #expect((#expect(throws: ChallengeError.self) { try WebrootSolver(root: root + "/missing") })?.code == .webroot)
    }
}
