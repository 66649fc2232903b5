import Foundation
import Glibc
import Synchronization

/// A DNS server on one free loopback port (UDP and TCP) whose every answer the test decides:
/// a thousand NS records, glue pointing nowhere, or no answer at all. Answers over 4 KiB go out
/// truncated over UDP, so the client asks again over TCP (as from a real server). It counts the
/// questions it gets, so a test can say how many servers a client asked.
public final class HostileDNSServer: @unchecked Sendable {
    /// One record: owner, type and record data; `target`, when set, is the record data: a name
    /// (NS), compressed like the owner against the question's name, so that 1,000 NS records
    /// and their glue fit in one 64 KiB TCP message.
    public struct Record: Sendable {
        public var name: String
        public var type: UInt16
        public var data: [UInt8]
        public var target: String?

        public init(name: String, type: UInt16, data: [UInt8], target: String? = nil) {
            (self.name, self.type, self.data, self.target) = (name, type, data, target)
        }
        public static func ns(_ owner: String, _ target: String) -> Record { Record(name: owner, type: 2, data: [], target: target) }
        public static func a(_ owner: String, _ address: String) -> Record {
            Record(name: owner, type: 1, data: address.split(separator: ".").compactMap { UInt8($0) })
        }
        /// An SOA whose primary and mailbox are names under the zone; serial and times fixed.
        public static func soa(_ zone: String) -> Record {
            Record(name: zone, type: 6, data: wire("ns1." + zone) + wire("hostmaster." + zone) + [UInt8](repeating: 0, count: 19) + [60])
        }
    }

    public enum Reply: Sendable {
        /// No answer at all (the client waits for its deadline).
        case silence
        case answer(_ answers: [Record], authority: [Record] = [], additional: [Record] = [], rcode: UInt8 = 0)
    }

    public let port: UInt16
    private let udp: Int32
    private let tcp: Int32
    private let respond: @Sendable (_ name: String, _ type: UInt16) -> Reply
    private let stopped = Atomic<Bool>(false)
    private let asked = Mutex<[(name: String, type: UInt16)]>([])
    private let running = DispatchGroup()

    /// Every question so far (name lower-cased without the final dot, type).
    public var questions: [(name: String, type: UInt16)] { asked.withLock { $0 } }

    /// Listens on UDP and TCP of one free 127.0.0.1 port (a few tried) and answers each question with `respond`.
    public init(respond: @escaping @Sendable (_ name: String, _ type: UInt16) -> Reply) throws {
        self.respond = respond
        var opened: (Int32, Int32, UInt16)?
        for _ in 0..<20 where opened == nil {
            let udp = socket(AF_INET, Int32(SOCK_DGRAM.rawValue), 0)
            guard Loopback.withAddress("127.0.0.1", port: 0, { bind(udp, $0, $1) }) == 0 else { close(udp); continue }
            var address = sockaddr_in()
            var length = socklen_t(MemoryLayout<sockaddr_in>.size)
            _ = withUnsafeMutablePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(udp, $0, &length) } }
            let port = UInt16(bigEndian: address.sin_port)
            let tcp = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            var reuse: Int32 = 1
            setsockopt(tcp, SOL_SOCKET, SO_REUSEADDR, &reuse, socklen_t(MemoryLayout<Int32>.size))
            if Loopback.withAddress("127.0.0.1", port: Int(port), { bind(tcp, $0, $1) }) == 0, listen(tcp, 64) == 0 {
                opened = (udp, tcp, port)
            } else {
                close(tcp)
                close(udp)
            }
        }
        guard let opened else { throw FixtureFailure("cannot listen on UDP and TCP of one loopback port (20 ports tried)") }
        (udp, tcp, port) = opened
        for loop in [serveUDP, serveTCP] {
            running.enter()
            Thread.detachNewThread { [running] in loop(); running.leave() }
        }
    }

    /// Stops both loops and closes the sockets.
    public func stop() {
        guard !stopped.exchange(true, ordering: .sequentiallyConsistent) else { return }
        running.wait()
        close(udp)
        close(tcp)
    }

    deinit { stop() }

    private func readable(_ fd: Int32) -> Bool {
        var poller = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        return poll(&poller, 1, 100) > 0
    }

    private func serveUDP() {
        var buffer = [UInt8](repeating: 0, count: 4096)
        while !stopped.load(ordering: .sequentiallyConsistent) {
            guard readable(udp) else { continue }
            var peer = sockaddr_storage()
            var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
            let n = withUnsafeMutablePointer(to: &peer) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { recvfrom(udp, &buffer, buffer.count, 0, $0, &length) } }
            guard n > 12, var reply = answer(Array(buffer.prefix(n))) else { continue }
            if reply.count > 4096 {
                // TC: the header and question only.
                reply = Array(reply.prefix(12 + questionLength(Array(buffer.prefix(n)))))
                reply[2] |= 0x02
                for index in 6..<12 { reply[index] = 0 }
            }
            _ = withUnsafePointer(to: &peer) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { sendto(udp, reply, reply.count, 0, $0, length) } }
        }
    }

    private func serveTCP() {
        while !stopped.load(ordering: .sequentiallyConsistent) {
            guard readable(tcp) else { continue }
            let client = accept(tcp, nil, nil)
            guard client >= 0 else { continue }
            var limit = timeval(tv_sec: 2, tv_usec: 0)
            setsockopt(client, SOL_SOCKET, SO_RCVTIMEO, &limit, socklen_t(MemoryLayout<timeval>.size))
            var header = [UInt8](repeating: 0, count: 2)
            if recv(client, &header, 2, Int32(MSG_WAITALL)) == 2 {
                var query = [UInt8](repeating: 0, count: Int(header[0]) << 8 | Int(header[1]))
                if recv(client, &query, query.count, Int32(MSG_WAITALL)) == query.count, let reply = answer(query) {
                    let framed = [UInt8(reply.count >> 8 & 0xFF), UInt8(reply.count & 0xFF)] + reply
                    _ = send(client, framed, framed.count, Int32(MSG_NOSIGNAL))
                }
            }
            close(client)
        }
    }

    /// Bytes of the first question (name, type, class).
    private func questionLength(_ query: [UInt8]) -> Int {
        var index = 12
        while index < query.count, query[index] != 0 { index += Int(query[index]) + 1 }
        return index + 1 + 4 - 12
    }

    /// The reply to one query, nil for silence or a query that is not one question.
    private func answer(_ query: [UInt8]) -> [UInt8]? {
        guard query.count > 12 else { return nil }
        var labels: [String] = []
        var index = 12
        while index < query.count, query[index] != 0, query[index] < 64, index + 1 + Int(query[index]) <= query.count {
            labels.append(String(decoding: query[(index + 1)..<(index + 1 + Int(query[index]))], as: UTF8.self))
            index += Int(query[index]) + 1
        }
        guard index + 5 <= query.count else { return nil }
        let name = labels.joined(separator: ".").lowercased()
        let type = UInt16(query[index + 1]) << 8 | UInt16(query[index + 2])
        asked.withLock { $0.append((name, type)) }
        guard case .answer(let answers, let authority, let additional, let rcode) = respond(name, type) else { return nil }
        var out = Array(query.prefix(index + 5))
        out[2] = 0x84 | (query[2] & 0x01)  // QR, AA, RD copied
        out[3] = rcode & 0x0F
        let counts = [1, answers.count, authority.count, additional.count]
        for (slot, count) in counts.enumerated() { out[4 + 2 * slot] = UInt8(count >> 8 & 0xFF); out[5 + 2 * slot] = UInt8(count & 0xFF) }
        for record in answers + authority + additional {
            let data = record.target.map { Self.compressed($0, question: name) } ?? record.data
            out += Self.compressed(record.name, question: name) + [UInt8(record.type >> 8), UInt8(record.type & 0xFF), 0, 1, 0, 0, 0, 60]
            out += [UInt8(data.count >> 8), UInt8(data.count & 0xFF)] + data
        }
        // Larger than a TCP message can say: the test asked for too much; nothing is sent.
        return out.count <= 65535 ? out : nil
    }

    /// `name` with the question's name (at offset 12) as a pointer where it ends with it.
    static func compressed(_ name: String, question: String) -> [UInt8] {
        if name == question { return [0xC0, 12] }
        guard name.hasSuffix("." + question) else { return wire(name) }
        return wire(String(name.dropLast(question.count + 1))).dropLast() + [0xC0, 12]
    }

    /// A name in wire form, uncompressed.
    public static func wire(_ name: String) -> [UInt8] {
        name.split(separator: ".").flatMap { [UInt8($0.utf8.count)] + Array($0.utf8) } + [0]
    }
}

extension HostileDNSServer {
    /// A zone's server: its SOA (for names below it NXDOMAIN with the SOA in the authority
    /// section), an NS answer naming `names` with `glue` as additional records, and silence for
    /// every other question (addresses, TLSA, TXT).
    public static func zone(_ zone: String, names: [String], glue: [Record]) throws -> HostileDNSServer {
        try HostileDNSServer { asked, type in
            switch (asked, type) {
            case (zone, 6): .answer([.soa(zone)])
            case (_, 6) where asked.hasSuffix("." + zone): .answer([], authority: [.soa(zone)], rcode: 3)
            case (zone, 2): .answer(names.map { .ns(zone, $0) }, additional: glue)
            default: .silence
            }
        }
    }
}
