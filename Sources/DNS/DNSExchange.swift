import Base
import Glibc

/// One DNS request and its answer over UDP, or TCP when the request is over 512 bytes or the
/// UDP answer is truncated (RFC 1035 §4.2, RFC 7766). Bounded: one deadline for the whole
/// exchange, a 4 KiB datagram, a 64 KiB TCP message; answers with another id are ignored.
struct DNSExchange {
    var server: DNSServer
    var timeout: Duration

    /// The largest request sent over UDP without EDNS (RFC 1035 §2.3.4).
    static let udpLimit = 512
    static let datagramLimit = 4096

    /// The answer's bytes, whose id is the request's.
    func send(_ request: [UInt8]) throws -> [UInt8] {
        let deadline = ContinuousClock.now + timeout
        if request.count <= Self.udpLimit {
            let answer = try exchange(request, stream: false, deadline: deadline)
            // TC bit: ask again over TCP.
            guard answer[2] & 0x02 != 0 else { return answer }
        }
        return try exchange(request, stream: true, deadline: deadline)
    }

    private func failure(_ what: String) -> DNSError {
        DNSError(.unreachable, "cannot reach the DNS server \(server): \(what)")
    }

    private func exchange(_ request: [UInt8], stream: Bool, deadline: ContinuousClock.Instant) throws -> [UInt8] {
        var hints = addrinfo()
        hints.ai_socktype = Int32(stream ? SOCK_STREAM.rawValue : SOCK_DGRAM.rawValue)
        hints.ai_flags = AI_NUMERICSERV
        var list: UnsafeMutablePointer<addrinfo>?
        guard getaddrinfo(server.host, String(server.port), &hints, &list) == 0, let info = list else {
            throw DNSError(.unreachable, "cannot resolve the DNS server name \(server.host.escapedExcerpt)")
        }
        defer { freeaddrinfo(list) }
        let fd = socket(info.pointee.ai_family, info.pointee.ai_socktype | Int32(SOCK_CLOEXEC.rawValue), info.pointee.ai_protocol)
        guard fd >= 0 else { throw failure("no socket: \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        // connect() on a stream socket obeys SO_SNDTIMEO.
        var limit = Self.timeval(until: deadline)
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &limit, socklen_t(MemoryLayout<timeval>.size))
        guard connect(fd, info.pointee.ai_addr, info.pointee.ai_addrlen) == 0 else {
            throw failure(errno == EINPROGRESS || errno == EAGAIN ? "no TCP connection within \(timeout)" : String(cString: strerror(errno)))
        }
        let id = (request[0], request[1])
        if stream {
            let framed = [UInt8(request.count >> 8), UInt8(request.count & 0xFF)] + request
            guard Glibc.send(fd, framed, framed.count, Int32(MSG_NOSIGNAL)) == framed.count else { throw failure(String(cString: strerror(errno))) }
            let header = try read(fd, 2, deadline)
            let length = Int(header[0]) << 8 | Int(header[1])
            guard length >= 12 else { throw DNSError(.badAnswer, "the DNS server \(server) sent a \(length)-byte TCP answer, shorter than a DNS header") }
            let answer = try read(fd, length, deadline)
            guard answer[0] == id.0, answer[1] == id.1 else { throw DNSError(.badAnswer, "the DNS server \(server) answered over TCP with another message id") }
            return answer
        }
        guard Glibc.send(fd, request, request.count, 0) == request.count else { throw failure(String(cString: strerror(errno))) }
        var buffer = [UInt8](repeating: 0, count: Self.datagramLimit)
        while true {
            try wait(fd, deadline)
            let n = recv(fd, &buffer, buffer.count, 0)
            guard n >= 0 else { throw failure(String(cString: strerror(errno))) }
            // Shorter than a header or another id: not the answer to this request.
            if n >= 12, buffer[0] == id.0, buffer[1] == id.1 { return Array(buffer.prefix(n)) }
        }
    }

    /// Waits until `fd` is readable, or throws once `deadline` has passed.
    private func wait(_ fd: Int32, _ deadline: ContinuousClock.Instant) throws {
        while true {
            let left = deadline - ContinuousClock.now
            guard left > .zero else { throw failure("no answer within \(timeout)") }
            var poller = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            let milliseconds = Int32(left.components.seconds * 1000 + left.components.attoseconds / 1_000_000_000_000_000 + 1)
            BlockingCheck.willWait("a DNS answer (poll)")
            let ready = poll(&poller, 1, milliseconds)
            if ready > 0 { return }
            if ready < 0, errno != EINTR { throw failure(String(cString: strerror(errno))) }
        }
    }

    private func read(_ fd: Int32, _ count: Int, _ deadline: ContinuousClock.Instant) throws -> [UInt8] {
        var out = [UInt8](repeating: 0, count: count)
        var have = 0
        while have < count {
            try wait(fd, deadline)
            let n = out.withUnsafeMutableBytes { recv(fd, $0.baseAddress! + have, count - have, 0) }
            guard n > 0 else { throw failure(n == 0 ? "the TCP connection closed mid-answer" : String(cString: strerror(errno))) }
            have += n
        }
        return out
    }

    static func timeval(until deadline: ContinuousClock.Instant) -> Glibc.timeval {
        let left = max(deadline - ContinuousClock.now, .milliseconds(1))
        return Glibc.timeval(tv_sec: Int(left.components.seconds), tv_usec: Int(left.components.attoseconds / 1_000_000_000_000))
    }
}

/// Plain queries: a question, the answer parsed and checked to be a response to it.
public struct DNSQuery: Sendable {
    public var server: DNSServer
    public var timeout: Duration
    /// RD: ask a resolver to recurse; off when asking an authoritative server about its own zone.
    public var recursionDesired: Bool
    /// AD in the query: asks a validating resolver to say whether it authenticated the answer
    /// with DNSSEC (RFC 6840 §5.7), without asking for the signatures themselves.
    public var authenticatedData = false
    /// The deadline of the operation this query is part of: it waits at most for the time left.
    public var deadline: DNSDeadline?

    public init(server: DNSServer, timeout: Duration = .seconds(3), recursionDesired: Bool) {
        self.server = server
        self.timeout = timeout
        self.recursionDesired = recursionDesired
    }

    public func ask(_ name: String, type: UInt16) throws -> DNSMessage {
        let id = UInt16.random(in: 0...UInt16.max)
        let flags: UInt16 = (recursionDesired ? 0x0100 : 0) | (authenticatedData ? 0x0020 : 0)
        var writer = DNSWriter.header(id: id, flags: flags, counts: [1, 0, 0, 0])
        try writer.name(name)
        writer.u16(type)
        writer.u16(RRClass.internet)
        let wait = try deadline?.cut(timeout, asking: server) ?? timeout
        let bytes: [UInt8]
        do {
            bytes = try DNSExchange(server: server, timeout: wait).send(writer.bytes)
        } catch let error as DNSError where error.code == .unreachable {
            // Cut short by the operation's deadline: that is what ended it.
            if let deadline, deadline.passed { throw deadline.passedError(server) }
            throw error
        }
        let answer = try DNSMessage(parsing: bytes)
        guard answer.isResponse, answer.questions.count <= 1,
              answer.questions.allSatisfy({ $0.name == DNSName.normalized(name) && $0.type == type }) else {
            throw DNSError(.badAnswer, "the DNS server \(server) answered another question than \(name.escapedExcerpt)")
        }
        return answer
    }
}
