import Base
import Dispatch
import Glibc

/// A point on the monotonic clock by which something must be done, with the words that name
/// it in an error ("the 10 s deadline for this endpoint"; the CLI adds its flag).
struct Deadline: Sendable {
    let instant: ContinuousClock.Instant
    let name: String

    init(seconds: Int, name: String) {
        self.instant = .now + .seconds(seconds)
        self.name = name
    }

    /// Whichever of the two comes first.
    static func earlier(_ a: Deadline, _ b: Deadline) -> Deadline { a.instant <= b.instant ? a : b }

    var passed: Bool { ContinuousClock.now >= instant }

    /// The time left for poll(2), in milliseconds rounded up; 0 once passed.
    var remainingMilliseconds: Int32 {
        let left = instant - .now
        guard left > .zero else { return 0 }
        let (seconds, attoseconds) = left.components
        return Int32(clamping: seconds * 1000 + (attoseconds + 999_999_999_999_999) / 1_000_000_000_000_000)
    }
}

/// A TCP connection to an endpoint and the line-based plaintext dialogs that precede STARTTLS,
/// against a server that is not trusted: one deadline covers resolving, connecting, the dialog
/// and (in EndpointCheck) the TLS handshake, every wait is a poll(2) on the time left, and what
/// the server may send before TLS is capped in line length, lines per reply and total bytes.
final class Connection {
    /// The longest line read before TLS (RFC 5321 allows 512 octets for an SMTP reply line).
    static let maxLineBytes = 4096
    /// The most lines one reply may have: an SMTP multi-line reply, or IMAP's untagged lines
    /// before the tagged answer to STARTTLS.
    static let maxReplyLines = 100
    /// The most bytes read from the server before TLS, all replies together.
    static let maxPlaintextBytes = 65_536

    let fd: Int32
    let endpoint: Endpoint
    let deadline: Deadline
    private var pending: [UInt8] = []
    private var received = 0

    /// Resolves and connects within `deadline`; the socket stays non-blocking.
    init(_ endpoint: Endpoint, deadline: Deadline) throws {
        self.endpoint = endpoint
        self.deadline = deadline
        let addresses = try Self.resolve(endpoint, deadline: deadline)
        var lastError = "no address"
        for address in addresses {
            let fd = socket(address.family, address.socketType | Int32(SOCK_CLOEXEC.rawValue) | Int32(SOCK_NONBLOCK.rawValue), address.protocolNumber)
            guard fd >= 0 else { lastError = String(cString: strerror(errno)); continue }
            switch Self.connect(fd, address.bytes, deadline: deadline) {
            case nil:
                self.fd = fd
                return
            case let failure?:
                close(fd)
                // The time is up: the other addresses would get none.
                if deadline.passed { throw CheckError(.timedOut, "\(endpoint): \(deadline.name) passed while connecting") }
                lastError = failure
            }
        }
        throw CheckError(.unreachable, "\(endpoint): cannot connect: \(lastError)")
    }

    deinit { close(fd) }

    /// `doing`: "waiting for the SMTP greeting", or with its own preposition, "during the TLS handshake".
    func timedOut(_ doing: String) -> CheckError {
        let when = doing.hasPrefix("during ") ? doing : "while " + doing
        return CheckError(.timedOut, "\(endpoint): \(deadline.name) passed \(when)")
    }

    // MARK: Resolving and connecting

    struct Address: Sendable {
        var family: Int32, socketType: Int32, protocolNumber: Int32
        var bytes: [UInt8]
    }

    /// getaddrinfo cannot be given a deadline, so it runs on another thread and is waited for
    /// until the deadline; a lookup still running then is left to finish on its own.
    private static func resolve(_ endpoint: Endpoint, deadline: Deadline) throws -> [Address] {
        final class Lookup: @unchecked Sendable {
            // Written by the lookup before `done` is signalled, read only after a wait that
            // saw the signal: the semaphore orders the two.
            var addresses: [Address] = []
            var failure: String?
            let done = DispatchSemaphore(value: 0)
        }
        let lookup = Lookup()
        let host = endpoint.host, port = String(endpoint.port)
        DispatchQueue.global().async {
            var hints = addrinfo()
            hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
            hints.ai_flags = AI_NUMERICSERV
            var list: UnsafeMutablePointer<addrinfo>?
            let rc = getaddrinfo(host, port, &hints, &list)
            if rc != 0 || list == nil {
                lookup.failure = String(cString: gai_strerror(rc))
            } else {
                var info = list
                while let current = info {
                    let bytes = UnsafeRawBufferPointer(start: current.pointee.ai_addr, count: Int(current.pointee.ai_addrlen))
                    lookup.addresses.append(Address(family: current.pointee.ai_family, socketType: current.pointee.ai_socktype,
                                                    protocolNumber: current.pointee.ai_protocol, bytes: Array(bytes)))
                    info = current.pointee.ai_next
                }
                freeaddrinfo(list)
            }
            lookup.done.signal()
        }
        let left = Int(deadline.remainingMilliseconds)
        BlockingCheck.willWait("getaddrinfo for a mail server")
        guard lookup.done.wait(timeout: .now() + .milliseconds(left)) == .success else {
            throw CheckError(.timedOut, "\(endpoint): \(deadline.name) passed while resolving \(endpoint.host)")
        }
        if let failure = lookup.failure { throw CheckError(.unreachable, "\(endpoint): cannot resolve \(endpoint.host): \(failure)") }
        return lookup.addresses
    }

    /// nil when connected; else why not.
    private static func connect(_ fd: Int32, _ address: [UInt8], deadline: Deadline) -> String? {
        let rc = address.withUnsafeBytes { Glibc.connect(fd, $0.baseAddress!.assumingMemoryBound(to: sockaddr.self), socklen_t($0.count)) }
        if rc == 0 { return nil }
        guard errno == EINPROGRESS else { return String(cString: strerror(errno)) }
        while true {
            let left = deadline.remainingMilliseconds
            guard left > 0 else { return "timed out" }
            var entry = pollfd(fd: fd, events: Int16(POLLOUT), revents: 0)
            BlockingCheck.willWait("a TCP connect to a mail server (poll)")
            let ready = poll(&entry, 1, left)
            if ready == 1 { break }
            if ready < 0 && errno != EINTR { return String(cString: strerror(errno)) }
        }
        var code: Int32 = 0
        var size = socklen_t(MemoryLayout<Int32>.size)
        getsockopt(fd, SOL_SOCKET, SO_ERROR, &code, &size)
        return code == 0 ? nil : String(cString: strerror(code))
    }

    // MARK: Reading and writing before TLS

    /// Waits until the socket is ready for `events` or the deadline passes.
    private func wait(_ events: Int32, _ doing: String) throws {
        while true {
            let left = deadline.remainingMilliseconds
            guard left > 0 else { throw timedOut(doing) }
            var entry = pollfd(fd: fd, events: Int16(events), revents: 0)
            BlockingCheck.willWait("a mail server's answer (poll)")
            let ready = poll(&entry, 1, left)
            if ready == 1 { return }
            if ready < 0 && errno != EINTR {
                throw CheckError(.protocolFailure, "\(endpoint): cannot wait for the server (\(String(cString: strerror(errno)))) while \(doing)")
            }
        }
    }

    func send(_ line: String) throws {
        let bytes = Array((line + "\r\n").utf8)
        var offset = 0
        while offset < bytes.count {
            try wait(POLLOUT, "sending \(line)")
            let n = bytes.withUnsafeBytes { Glibc.send(fd, $0.baseAddress! + offset, $0.count - offset, Int32(MSG_NOSIGNAL) | Int32(MSG_DONTWAIT)) }
            if n > 0 { offset += n; continue }
            if n < 0 && (errno == EAGAIN || errno == EINTR) { continue }
            throw CheckError(.protocolFailure, "\(endpoint): the server closed the connection before \(line) could be sent")
        }
    }

    /// One line (CR LF or LF), within the deadline and the caps.
    func readLine(_ doing: String) throws -> String {
        var searched = 0
        while true {
            if let newline = pending[searched...].firstIndex(of: 10) {
                guard newline <= Self.maxLineBytes else { throw lineTooLong(doing) }
                var line = Array(pending[..<newline])
                pending.removeSubrange(...newline)
                if line.last == 13 { line.removeLast() }
                return String(decoding: line, as: UTF8.self)
            }
            searched = pending.count
            guard pending.count <= Self.maxLineBytes else { throw lineTooLong(doing) }
            try wait(POLLIN, doing)
            var buffer = [UInt8](repeating: 0, count: 4096)
            let n = recv(fd, &buffer, buffer.count, Int32(MSG_DONTWAIT))
            if n < 0 && (errno == EAGAIN || errno == EINTR) { continue }
            guard n > 0 else {
                let why = n == 0 ? "closed the connection" : "broke the connection (\(String(cString: strerror(errno))))"
                throw CheckError(.protocolFailure, "\(endpoint): the server \(why) while \(doing)")
            }
            received += n
            guard received <= Self.maxPlaintextBytes else {
                throw CheckError(.oversized, "\(endpoint): the server sent more than \(Self.maxPlaintextBytes / 1024) KiB before TLS (the limit) while \(doing)")
            }
            pending += buffer.prefix(n)
        }
    }

    private func lineTooLong(_ doing: String) -> CheckError {
        CheckError(.oversized, "\(endpoint): a line longer than \(Self.maxLineBytes / 1024) KiB before TLS (the limit) while \(doing)")
    }

    private func tooManyLines(_ doing: String) -> CheckError {
        CheckError(.oversized, "\(endpoint): more than \(Self.maxReplyLines) lines in one reply before TLS (the limit) while \(doing)")
    }

    /// The plaintext part of SMTP (RFC 3207), IMAP (RFC 3501 §6.2.1), POP3 (RFC 2595 §4).
    /// What the server said is quoted in errors as an excerpt, control characters escaped.
    func startTLS(_ kind: Endpoint.StartTLS) throws {
        switch kind {
        case .smtp:
            let greeting = try smtpReply("waiting for the SMTP greeting")
            guard greeting.code == 220 else { throw CheckError(.protocolFailure, "\(endpoint): SMTP greeting is \(greeting.last.excerpt(80))") }
            try send("EHLO acme-check.invalid")
            let ehlo = try smtpReply("waiting for the answer to EHLO")
            guard ehlo.code == 250 else { throw CheckError(.protocolFailure, "\(endpoint): EHLO refused: \(ehlo.last.excerpt(80))") }
            guard ehlo.offersStartTLS else { throw CheckError(.protocolFailure, "\(endpoint): the server does not offer STARTTLS") }
            try send("STARTTLS")
            let ready = try smtpReply("waiting for the answer to STARTTLS")
            guard ready.code == 220 else { throw CheckError(.protocolFailure, "\(endpoint): STARTTLS refused: \(ready.last.excerpt(80))") }
        case .imap:
            let greeting = try readLine("waiting for the IMAP greeting")
            guard greeting.hasPrefix("* OK") else { throw CheckError(.protocolFailure, "\(endpoint): IMAP greeting is \(greeting.excerpt(80))") }
            try send("a1 STARTTLS")
            var lines = 0
            while true {
                let doing = "waiting for the answer to STARTTLS"
                let line = try readLine(doing)
                if line.hasPrefix("a1 ") {
                    guard line.hasPrefix("a1 OK") else { throw CheckError(.protocolFailure, "\(endpoint): STARTTLS refused: \(line.excerpt(80))") }
                    break
                }
                lines += 1
                guard lines < Self.maxReplyLines else { throw tooManyLines(doing) }
            }
        case .pop3:
            let greeting = try readLine("waiting for the POP3 greeting")
            guard greeting.hasPrefix("+OK") else { throw CheckError(.protocolFailure, "\(endpoint): POP3 greeting is \(greeting.excerpt(80))") }
            try send("STLS")
            let answer = try readLine("waiting for the answer to STLS")
            guard answer.hasPrefix("+OK") else { throw CheckError(.protocolFailure, "\(endpoint): STLS refused: \(answer.excerpt(80))") }
        }
    }

    /// A possibly multi-line SMTP reply ("250-…" continues, "250 …" ends), at most
    /// `maxReplyLines` lines; only what the dialog needs is kept.
    private func smtpReply(_ doing: String) throws -> (code: Int, last: String, offersStartTLS: Bool) {
        var offersStartTLS = false
        for _ in 0..<Self.maxReplyLines {
            let line = try readLine(doing)
            if line.uppercased().dropFirst(4).hasPrefix("STARTTLS") { offersStartTLS = true }
            let bytes = Array(line.utf8)
            if bytes.count < 4 || bytes[3] != UInt8(ascii: "-") {
                return (Int(line.prefix(3)) ?? 0, line, offersStartTLS)
            }
        }
        throw tooManyLines(doing)
    }
}
