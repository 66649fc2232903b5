import ACMECrypto
import Base
import Foundation
import Glibc
import Synchronization
@testable import Challenges
@testable import Check

/// A failure of the harness's own expectations (not a project error): always reported.
struct FuzzFailure: Error, CustomStringConvertible {
    var description: String
}

/// Loopback TCP helpers for the two parsers that are only reachable through a socket.
enum Loopback {
    /// A connected socket to 127.0.0.1:port with send/receive timeouts.
    static func connect(port: Int, timeoutSeconds: Int = 3) throws -> Int32 {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw FuzzFailure(description: "socket: \(String(cString: strerror(errno)))") }
        var timeout = timeval(tv_sec: timeoutSeconds, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let rc = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        guard rc == 0 else {
            let reason = String(cString: strerror(errno))
            close(fd)
            throw FuzzFailure(description: "cannot connect to 127.0.0.1:\(port): \(reason)")
        }
        return fd
    }

    /// Sends all of `bytes` (in `chunk`-byte pieces when chunk > 0); false when the peer
    /// stopped taking them (closed or reset), which is an answer too.
    @discardableResult
    static func send(_ fd: Int32, _ bytes: [UInt8], chunk: Int = 0) -> Bool {
        var offset = 0
        while offset < bytes.count {
            let size = chunk > 0 ? min(chunk, bytes.count - offset) : bytes.count - offset
            let n = bytes.withUnsafeBytes { Glibc.send(fd, $0.baseAddress! + offset, size, Int32(MSG_NOSIGNAL)) }
            if n <= 0 { return false }
            offset += n
        }
        return true
    }

    /// Everything until the peer closes (or `limit` bytes, or the receive timeout).
    static func readAll(_ fd: Int32, limit: Int = 1 << 20) -> (bytes: [UInt8], timedOut: Bool) {
        var out: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 16384)
        while out.count < limit {
            let n = recv(fd, &buffer, buffer.count, 0)
            if n > 0 { out += buffer.prefix(n); continue }
            if n < 0 && errno == EINTR { continue }
            return (out, n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
        }
        return (out, false)
    }

    /// A listening socket on 127.0.0.1 and the port it got.
    static func listen() throws -> (fd: Int32, port: Int) {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var one: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) == 0 && Glibc.listen(fd, 16) == 0 && getsockname(fd, $0, &length) == 0 }
        }
        guard fd >= 0, bound else { throw FuzzFailure(description: "cannot listen on 127.0.0.1: \(String(cString: strerror(errno)))") }
        return (fd, Int(UInt16(bigEndian: address.sin_port)))
    }
}

// MARK: - HTTP-01 responder

enum ResponderTarget {
    static let token = "evaGxfADs6pSRb2LAv9IZf17Dt3juxGJ-PCt92wr-oA"
    static let keyAuthorization = token + ".9jg46WB3rR_AHD-EBXdN7cBkH1WOu0tA3M9fm21mqTI"

    final class State: @unchecked Sendable {
        var responder: HTTP01Responder?
        var port = 0
    }
    static let state = State()

    static let seeds: [String] = [
        "GET /.well-known/acme-challenge/\(token) HTTP/1.1\r\nHost: mail.example.com\r\nUser-Agent: Mozilla/5.0 (compatible; Let's Encrypt validation server; +https://www.letsencrypt.org)\r\nAccept: */*\r\nAccept-Encoding: gzip\r\nConnection: close\r\n\r\n",
        "HEAD /.well-known/acme-challenge/\(token) HTTP/1.0\r\n\r\n",
        "GET /.well-known/acme-challenge/unknown-token HTTP/1.1\r\nHost: x\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: mail.example.com\r\n\r\n",
        "POST /.well-known/acme-challenge/\(token) HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello",
        "GET /.well-known/acme-challenge/../../etc/passwd HTTP/1.1\r\n\r\nGET /.well-known/acme-challenge/\(token) HTTP/1.1\r\n\r\n",
    ]

    /// A request and how to send it: all at once, or in pieces of a few bytes (the blank line
    /// then straddles reads).
    static func input(_ rng: inout SplitMix64) -> [UInt8] {
        let request = Mutator(seeds: seeds.map(\.bytes), tokens: ["\r\n", "\r\n\r\n", " ", "GET", "HEAD", "HTTP/1.1", "HTTP/1.", "/.well-known/acme-challenge/", token, "%2e%2e", "\r", "\n\n"],
                              maxLength: 32 * 1024).input(&rng)
        let chunk: UInt8 = rng.chance(80) ? 0 : UInt8(rng.skewed(64))
        return Parts.encode([request, [chunk]])
    }

    /// A bound on each read that only a responder ignoring its own 5-s deadline reaches, however
    /// loaded the machine: the verdict is "answered or closed", not how fast.
    static let readSeconds = 60

    /// One exchange; the answer must be an HTTP/1.1 response or nothing (a closed connection).
    static func exchange(_ request: [UInt8], chunk: Int) throws -> [UInt8] {
        let fd = try Loopback.connect(port: state.port, timeoutSeconds: readSeconds)
        defer { close(fd) }
        Loopback.send(fd, request, chunk: chunk)
        shutdown(fd, Int32(SHUT_WR))
        let (answer, timedOut) = Loopback.readAll(fd, limit: 64 * 1024)
        if timedOut {
            throw FuzzFailure(description: "the responder neither answered nor closed within \(readSeconds) s (its deadline is \(HTTP01Responder.connectionDeadlineMilliseconds / 1000) s)")
        }
        if !answer.isEmpty && !answer.starts(with: "HTTP/1.1 ".bytes) {
            throw FuzzFailure(description: "the responder answered something that is not HTTP/1.1: \(Log.escaped(Array(answer.prefix(80))))")
        }
        return answer
    }

    static let target = FuzzTarget(
        name: "http01", iterations: 3000,
        generate: { input(&$0) },
        execute: { input in
            let parts = Parts.decode(input)
            let request = parts.first.flatMap { $0 } ?? []
            let chunk = parts.count > 1 ? Int(parts[1]?.first ?? 0) : 0
            let answer = try exchange(request, chunk: chunk)
            // Only the live token's exact path may get a 200, and only with its key authorization.
            if answer.starts(with: "HTTP/1.1 200".bytes), !answer.text.hasSuffix(keyAuthorization), !request.starts(with: "HEAD".bytes) {
                throw FuzzFailure(description: "a 200 without the key authorization: \(Log.escaped(Array(answer.prefix(200))))")
            }
        },
        allowed: { _ in false },
        large: [
            ("1 MiB header", { Parts.encode([("GET / HTTP/1.1\r\nX: " + String(repeating: "a", count: 1 << 20) + "\r\n\r\n").bytes, [0]]) }),
            ("8 KiB in 1-byte pieces", { Parts.encode([("GET /.well-known/acme-challenge/\(token) HTTP/1.1\r\n" + String(repeating: "X: y\r\n", count: 1300) + "\r\n").bytes, [1]]) }),
        ],
        maxSecondsLarge: 10,
        setUp: {
            let responder = HTTP01Responder(address: "127.0.0.1", port: 0)
            try responder.start()
            responder.add(token: token, keyAuthorization: keyAuthorization)
            state.responder = responder
            state.port = responder.port
        },
        healthCheck: {
            // The responder keeps answering a valid request after whatever came before.
            guard let answer = try? exchange(seeds[0].bytes, chunk: 0) else { return "the responder no longer accepts connections" }
            guard answer.starts(with: "HTTP/1.1 200".bytes), answer.text.hasSuffix(keyAuthorization) else {
                return "a valid challenge request no longer gets its key authorization: \(Log.escaped(Array(answer.prefix(200))))"
            }
            return nil
        },
        checkEvery: 200,
        tearDown: { state.responder?.stop() })
}

// MARK: - acme check's SMTP/IMAP/POP3 dialogs

/// A scripted mail server on loopback: sends the first message, then one message per line the
/// client sends, then closes. A client that sends nothing for `commandWait` milliseconds (it is
/// waiting for more of a reply that the script cut short) finds the connection closed.
final class ScriptedMailServer: @unchecked Sendable {
    let listener: Int32
    let port: Int
    let script = Mutex<[[UInt8]]>([])
    /// 50 ms while fuzzing (a close is an answer too); the set-up's dialogs, whose verdict needs
    /// the whole script played, wait as long as a loaded machine may take.
    let commandWait = Atomic<Int32>(50)
    private var thread: Thread?

    init() throws {
        (listener, port) = try Loopback.listen()
        thread = Thread { [self] in
            while true {
                let fd = accept(listener, nil, nil)
                if fd < 0 { if errno == EINTR { continue } else { return } }
                let messages = script.withLock { $0 }
                Self.serve(fd, messages, wait: commandWait.load(ordering: .relaxed))
                shutdown(fd, Int32(SHUT_RDWR))
                close(fd)
            }
        }
        thread?.start()
    }

    /// The last message stands for the TLS server's first flight: it answers whatever the
    /// client sends first (its ClientHello), not a line.
    static func serve(_ fd: Int32, _ messages: [[UInt8]], wait: Int32) {
        for (index, message) in messages.enumerated() {
            if index > 0 {
                // Wait for the client's command (one line), or any bytes before the last message.
                var received: [UInt8] = []
                repeat {
                    var entry = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
                    guard poll(&entry, 1, wait) == 1 else { return }
                    var buffer = [UInt8](repeating: 0, count: 4096)
                    let n = recv(fd, &buffer, buffer.count, 0)
                    if n <= 0 { return }
                    received += buffer.prefix(n)
                } while index < messages.count - 1 && !received.contains(10)
            }
            guard Loopback.send(fd, message) else { return }
            // A message cut short (no final line feed, an SMTP reply ending in a continuation
            // line) leaves the client waiting for the rest, not answering: close at once.
            if index < messages.count - 1 && !Self.complete(message) { return }
        }
    }

    static func complete(_ message: [UInt8]) -> Bool {
        guard message.last == 10 else { return false }
        let lines = message.split(separator: 10)
        guard let last = lines.last else { return false }
        return !(last.count >= 4 && last[last.startIndex + 3] == UInt8(ascii: "-") && last.prefix(3).allSatisfy { (48...57).contains($0) })
    }

    func stop() {
        shutdown(listener, Int32(SHUT_RDWR))
        close(listener)
    }
}

enum MailDialogTarget {
    final class State: @unchecked Sendable { var server: ScriptedMailServer? }
    static let state = State()

    static let smtp: [String] = [
        "220 mail.example.com ESMTP Postfix (Debian/GNU)\r\n",
        "250-mail.example.com\r\n250-PIPELINING\r\n250-SIZE 10240000\r\n250-VRFY\r\n250-ETRN\r\n250-STARTTLS\r\n250-ENHANCEDSTATUSCODES\r\n250-8BITMIME\r\n250-DSN\r\n250 CHUNKING\r\n",
        "220 2.0.0 Ready to start TLS\r\n",
    ]
    static let imap: [String] = [
        "* OK [CAPABILITY IMAP4rev1 SASL-IR LOGIN-REFERRALS ID ENABLE IDLE LITERAL+ STARTTLS LOGINDISABLED] Dovecot (Debian) ready.\r\n",
        "* CAPABILITY IMAP4rev1 STARTTLS\r\na1 OK Begin TLS negotiation now.\r\n",
    ]
    static let pop3: [String] = ["+OK Dovecot (Debian) ready.\r\n", "+OK Begin TLS negotiation\r\n"]
    static let protocols = [("smtp", smtp), ("imap", imap), ("pop3", pop3)]

    /// What the server sends in place of a TLS ServerHello: nothing, random bytes, an alert,
    /// a handshake record with a mutated body.
    static func tlsJunk(_ rng: inout SplitMix64) -> [UInt8] {
        switch rng.below(4) {
        case 0: return []
        case 1: return rng.bytes(rng.skewed(2048))
        case 2: return [0x15, 0x03, 0x03, 0x00, 0x02, 0x02, rng.byte()]
        default:
            let body = rng.bytes(rng.skewed(512))
            return [0x16, 0x03, 0x03, UInt8(body.count >> 8), UInt8(body.count & 0xFF), 0x02] + body
        }
    }

    static func input(_ rng: inout SplitMix64) -> [UInt8] {
        let kind = rng.below(3)
        let (_, script) = protocols[kind]
        let mutator = Mutator(seeds: script.map(\.bytes), tokens: ["\r\n", "\n", "250-", "250 ", "220 ", "220-", "STARTTLS", "* OK", "a1 OK", "a1 NO", "+OK", "-ERR", "* ", "a1"],
                              maxLength: 96 * 1024)
        var messages = script.map(\.bytes)
        // Usually one message mutated, sometimes all; sometimes a reply of very many lines.
        for index in messages.indices where rng.chance(rng.chance(30) ? 100 : 100 / messages.count) {
            switch rng.below(10) {
            case 0: messages[index] = repeated((kind == 0 ? "250-x\r\n" : "* x\r\n").bytes, rng.skewed(300)) + messages[index]
            case 1: messages[index] = Array(repeating: UInt8(ascii: "2"), count: rng.skewed(70_000)) + "\r\n".bytes
            default: for _ in 0..<rng.skewed(6) { mutator.mutate(&messages[index], &rng) }
            }
        }
        if rng.chance(15) { messages.removeLast(rng.below(messages.count) + 1) }
        messages.append(tlsJunk(&rng))
        return Parts.encode([[UInt8(kind)]] + messages)
    }

    static func check(_ input: [UInt8], timeoutSeconds: Int = 1) throws -> CheckRun {
        let parts = Parts.decode(input)
        let kind = Int(parts.first??.first ?? 0) % protocols.count
        state.server?.script.withLock { $0 = parts.dropFirst().map { $0 ?? [] } }
        var check = EndpointCheck(serverName: Corpus.fqdn)
        check.timeoutSeconds = timeoutSeconds
        return try check.run(endpoints: ["\(protocols[kind].0)://127.0.0.1:\(state.server?.port ?? 0)"])
    }

    static let target = FuzzTarget(
        name: "mailDialog", iterations: 200,
        generate: { input(&$0) },
        execute: { input in
            let run = try check(input)
            // Nothing here speaks TLS: no endpoint can have been checked.
            if !run.reports.isEmpty { throw FuzzFailure(description: "a report without a TLS handshake: \(run.reports)") }
            if let error = run.errors.first { throw error }
        },
        allowed: { $0 is CheckError || $0 is CryptoError },
        large: [
            ("1 MiB greeting line", { Parts.encode([[0], Array(repeating: UInt8(ascii: "2"), count: 1 << 20)]) }),
            ("1 MiB of reply lines", { Parts.encode([[1]] + [repeated("* OK\r\n".bytes, 180_000)]) }),
        ],
        maxSeconds: 3,
        setUp: {
            let server = try ScriptedMailServer()
            state.server = server
            // The unmutated dialogs must get as far as the TLS handshake, or the fuzzing tests nothing:
            // neither side gives up on the other for a minute, so this does not depend on the machine's speed.
            server.commandWait.store(60_000, ordering: .relaxed)
            defer { server.commandWait.store(50, ordering: .relaxed) }
            for kind in 0..<protocols.count {
                let input = Parts.encode([[UInt8(kind)]] + protocols[kind].1.map(\.bytes) + [[0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 0x28]])
                let run = try check(input, timeoutSeconds: 60)
                guard let error = run.errors.first, error.code == .handshake else {
                    throw FuzzFailure(description: "the \(protocols[kind].0) dialog did not reach the TLS handshake: \(run.failures)")
                }
            }
        },
        tearDown: { state.server?.stop() })
}
