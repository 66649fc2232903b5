import Glibc

/// Asks one DNS server for the TXT records of a name over UDP (RFC 1035), so that a
/// DNS-01 record can be checked at a chosen resolver before the CA is told to look.
/// Recursion desired; answers are followed through compression pointers; TXT strings of
/// one record are joined.
public struct TXTLookup: Sendable {
    public var server: String
    public var port: UInt16
    public var timeout: Duration

    public init(server: String, port: UInt16 = 53, timeout: Duration = .seconds(2)) {
        self.server = server
        self.port = port
        self.timeout = timeout
    }

    /// Parses `host:port` (port 53 when absent; `[v6]:port` for IPv6).
    public init(resolver: String) throws {
        var host = Substring(resolver)
        var port: UInt16 = 53
        if host.hasPrefix("["), let close = host.firstIndex(of: "]") {
            let rest = host[host.index(after: close)...]
            if rest.hasPrefix(":") { port = try Self.port(String(rest.dropFirst()), resolver) }
            host = host[host.index(after: host.startIndex)..<close]
        } else if host.filter({ $0 == ":" }).count == 1, let colon = host.firstIndex(of: ":") {
            port = try Self.port(String(host[host.index(after: colon)...]), resolver)
            host = host[..<colon]
        }
        guard !host.isEmpty else { throw ChallengeError(.invalidSetting, "--dns-resolver \(resolver) is not HOST:PORT (e.g. 127.0.0.1:53 or [::1]:53)") }
        self.init(server: String(host), port: port)
    }

    private static func port(_ text: String, _ resolver: String) throws -> UInt16 {
        guard let port = UInt16(text), port > 0 else { throw ChallengeError(.invalidSetting, "--dns-resolver \(resolver): \(text) is not a port") }
        return port
    }

    public func txt(_ name: String) throws -> [String] {
        let id = UInt16.random(in: 0...UInt16.max)
        var query: [UInt8] = [UInt8(id >> 8), UInt8(id & 0xFF), 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0]
        for label in name.split(separator: ".") {
            let bytes = Array(label.utf8)
            guard !bytes.isEmpty, bytes.count < 64 else { throw ChallengeError(.invalidSetting, "\(name) is not a DNS name") }
            query.append(UInt8(bytes.count))
            query += bytes
        }
        query += [0, 0, 16, 0, 1]  // root, TYPE TXT, CLASS IN

        var hints = addrinfo()
        hints.ai_socktype = Int32(SOCK_DGRAM.rawValue)
        hints.ai_flags = AI_NUMERICSERV
        var list: UnsafeMutablePointer<addrinfo>?
        guard getaddrinfo(server, String(port), &hints, &list) == 0, let info = list else {
            throw ChallengeError(.dnsLookup, "cannot resolve the DNS server \(server)")
        }
        defer { freeaddrinfo(list) }
        let fd = socket(info.pointee.ai_family, info.pointee.ai_socktype, info.pointee.ai_protocol)
        guard fd >= 0 else { throw ChallengeError(.dnsLookup, "cannot open a UDP socket: \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        let seconds = timeout.components.seconds
        var limit = timeval(tv_sec: Int(seconds), tv_usec: Int(timeout.components.attoseconds / 1_000_000_000_000))
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &limit, socklen_t(MemoryLayout<timeval>.size))
        guard connect(fd, info.pointee.ai_addr, info.pointee.ai_addrlen) == 0, send(fd, query, query.count, 0) == query.count else {
            throw ChallengeError(.dnsLookup, "cannot send a DNS query to \(server):\(port): \(String(cString: strerror(errno)))")
        }
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = recv(fd, &buffer, buffer.count, 0)
            guard n > 0 else { throw ChallengeError(.dnsLookup, "no DNS answer from \(server):\(port) within \(timeout)") }
            let answer = Array(buffer.prefix(n))
            guard answer.count >= 12, answer[0] == query[0], answer[1] == query[1] else { continue }  // not ours
            return try Self.parseTXT(answer, name: name)
        }
    }

    /// The TXT strings in the answer section of a DNS response.
    static func parseTXT(_ message: [UInt8], name: String) throws -> [String] {
        guard message.count >= 12 else { throw ChallengeError(.dnsLookup, "truncated DNS answer for \(name)") }
        let rcode = message[3] & 0x0F
        if rcode == 3 { return [] }  // NXDOMAIN: not there (yet)
        guard rcode == 0 else { throw ChallengeError(.dnsLookup, "the DNS server answered rcode \(rcode) for \(name)") }
        let questions = Int(message[4]) << 8 | Int(message[5])
        let answers = Int(message[6]) << 8 | Int(message[7])
        var index = 12
        func skipName() throws {
            while index < message.count {
                let length = message[index]
                if length & 0xC0 == 0xC0 { index += 2; return }
                index += 1 + Int(length)
                if length == 0 { return }
            }
            throw ChallengeError(.dnsLookup, "truncated DNS answer for \(name)")
        }
        for _ in 0..<questions { try skipName(); index += 4 }
        var values: [String] = []
        for _ in 0..<answers {
            try skipName()
            guard index + 10 <= message.count else { throw ChallengeError(.dnsLookup, "truncated DNS answer for \(name)") }
            let type = Int(message[index]) << 8 | Int(message[index + 1])
            let length = Int(message[index + 8]) << 8 | Int(message[index + 9])
            index += 10
            guard index + length <= message.count else { throw ChallengeError(.dnsLookup, "truncated DNS answer for \(name)") }
            if type == 16 {
                var text: [UInt8] = []
                var position = index
                while position < index + length {
                    let size = Int(message[position])
                    text += message[(position + 1)..<min(position + 1 + size, index + length)]
                    position += 1 + size
                }
                values.append(String(decoding: text, as: UTF8.self))
            }
            index += length
        }
        return values
    }
}
