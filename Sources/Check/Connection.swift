import Glibc

/// A TCP connection with a deadline for connecting and for every read and write, and the
/// line-based plaintext dialogs that precede STARTTLS.
final class Connection {
    let fd: Int32
    let endpoint: Endpoint
    private var pending: [UInt8] = []

    init(_ endpoint: Endpoint, timeoutSeconds: Int) throws {
        self.endpoint = endpoint
        var hints = addrinfo()
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        hints.ai_flags = AI_NUMERICSERV
        var list: UnsafeMutablePointer<addrinfo>?
        let rc = getaddrinfo(endpoint.host, String(endpoint.port), &hints, &list)
        guard rc == 0, list != nil else {
            throw CheckError(.unreachable, "\(endpoint): cannot resolve \(endpoint.host): \(String(cString: gai_strerror(rc)))")
        }
        defer { freeaddrinfo(list) }
        var lastError = "no address"
        var info = list
        while let current = info {
            let fd = socket(current.pointee.ai_family, current.pointee.ai_socktype | Int32(SOCK_CLOEXEC.rawValue), current.pointee.ai_protocol)
            if fd >= 0 {
                if Self.connect(fd, current.pointee.ai_addr, current.pointee.ai_addrlen, timeoutSeconds: timeoutSeconds, error: &lastError) {
                    var limit = timeval(tv_sec: timeoutSeconds, tv_usec: 0)
                    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &limit, socklen_t(MemoryLayout<timeval>.size))
                    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &limit, socklen_t(MemoryLayout<timeval>.size))
                    self.fd = fd
                    return
                }
                close(fd)
            }
            info = current.pointee.ai_next
        }
        throw CheckError(.unreachable, "\(endpoint): cannot connect: \(lastError)")
    }

    deinit { close(fd) }

    private static func connect(_ fd: Int32, _ address: UnsafeMutablePointer<sockaddr>?, _ length: socklen_t,
                                timeoutSeconds: Int, error: inout String) -> Bool {
        let flags = fcntl(fd, F_GETFL)
        _ = fcntl(fd, F_SETFL, flags | O_NONBLOCK)
        defer { _ = fcntl(fd, F_SETFL, flags) }
        if Glibc.connect(fd, address, length) == 0 { return true }
        guard errno == EINPROGRESS else { error = String(cString: strerror(errno)); return false }
        var entry = pollfd(fd: fd, events: Int16(POLLOUT), revents: 0)
        guard poll(&entry, 1, Int32(timeoutSeconds * 1000)) == 1 else { error = "timed out after \(timeoutSeconds) s"; return false }
        var code: Int32 = 0
        var size = socklen_t(MemoryLayout<Int32>.size)
        getsockopt(fd, SOL_SOCKET, SO_ERROR, &code, &size)
        guard code == 0 else { error = String(cString: strerror(code)); return false }
        return true
    }

    func send(_ line: String) throws {
        let bytes = Array((line + "\r\n").utf8)
        guard Glibc.send(fd, bytes, bytes.count, Int32(MSG_NOSIGNAL)) == bytes.count else {
            throw CheckError(.protocolFailure, "\(endpoint): the server closed the connection")
        }
    }

    func readLine() throws -> String {
        while true {
            if let newline = pending.firstIndex(of: 10) {
                var line = Array(pending[..<newline])
                pending.removeSubrange(...newline)
                if line.last == 13 { line.removeLast() }
                return String(decoding: line, as: UTF8.self)
            }
            guard pending.count < 16_384 else { throw CheckError(.protocolFailure, "\(endpoint): a line longer than 16 KiB before STARTTLS") }
            var buffer = [UInt8](repeating: 0, count: 4096)
            let n = recv(fd, &buffer, buffer.count, 0)
            guard n > 0 else { throw CheckError(.protocolFailure, "\(endpoint): the server \(n == 0 ? "closed the connection" : "did not answer in time") before TLS") }
            pending += buffer.prefix(n)
        }
    }

    /// The plaintext part of SMTP (RFC 3207), IMAP (RFC 3501 §6.2.1), POP3 (RFC 2595 §4).
    func startTLS(_ kind: Endpoint.StartTLS) throws {
        switch kind {
        case .smtp:
            let greeting = try smtpReply()
            guard greeting.code == 220 else { throw CheckError(.protocolFailure, "\(endpoint): SMTP greeting is \(greeting.last)") }
            try send("EHLO acme-check.invalid")
            let ehlo = try smtpReply()
            guard ehlo.code == 250 else { throw CheckError(.protocolFailure, "\(endpoint): EHLO refused: \(ehlo.last)") }
            guard ehlo.lines.contains(where: { $0.uppercased().dropFirst(4).hasPrefix("STARTTLS") }) else {
                throw CheckError(.protocolFailure, "\(endpoint): the server does not offer STARTTLS")
            }
            try send("STARTTLS")
            let ready = try smtpReply()
            guard ready.code == 220 else { throw CheckError(.protocolFailure, "\(endpoint): STARTTLS refused: \(ready.last)") }
        case .imap:
            let greeting = try readLine()
            guard greeting.hasPrefix("* OK") else { throw CheckError(.protocolFailure, "\(endpoint): IMAP greeting is \(greeting)") }
            try send("a1 STARTTLS")
            while true {
                let line = try readLine()
                if line.hasPrefix("a1 ") {
                    guard line.hasPrefix("a1 OK") else { throw CheckError(.protocolFailure, "\(endpoint): STARTTLS refused: \(line)") }
                    break
                }
            }
        case .pop3:
            let greeting = try readLine()
            guard greeting.hasPrefix("+OK") else { throw CheckError(.protocolFailure, "\(endpoint): POP3 greeting is \(greeting)") }
            try send("STLS")
            let answer = try readLine()
            guard answer.hasPrefix("+OK") else { throw CheckError(.protocolFailure, "\(endpoint): STLS refused: \(answer)") }
        }
    }

    /// A possibly multi-line SMTP reply ("250-…" continues, "250 …" ends).
    private func smtpReply() throws -> (code: Int, lines: [String], last: String) {
        var lines: [String] = []
        while true {
            let line = try readLine()
            lines.append(line)
            let bytes = Array(line.utf8)
            if bytes.count < 4 || bytes[3] != UInt8(ascii: "-") {
                return (Int(line.prefix(3)) ?? 0, lines, line)
            }
        }
    }
}
