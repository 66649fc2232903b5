import Base

/// A DNS server to talk to: a host (name or address) and a port.
public struct DNSServer: Sendable, Equatable, CustomStringConvertible {
    public var host: String
    public var port: UInt16

    public init(host: String, port: UInt16 = 53) {
        self.host = host
        self.port = port
    }

    /// Parses `host[:port]` (port 53 when absent; `[v6]:port` for IPv6); `setting` names it in errors.
    public init(parsing text: String, setting: SettingName) throws {
        var host = Substring(text)
        var port: UInt16 = 53
        if host.hasPrefix("["), let close = host.firstIndex(of: "]") {
            let rest = host[host.index(after: close)...]
            if rest.hasPrefix(":") { port = try Self.port(String(rest.dropFirst()), text, setting) }
            host = host[host.index(after: host.startIndex)..<close]
        } else if host.filter({ $0 == ":" }).count == 1, let colon = host.firstIndex(of: ":") {
            port = try Self.port(String(host[host.index(after: colon)...]), text, setting)
            host = host[..<colon]
        }
        guard !host.isEmpty, !host.contains(where: { $0.isWhitespace || $0.asciiValue.map { $0 < 0x20 } ?? false }) else {
            throw DNSError(.invalidSetting, "\(setting) \(text.escapedExcerpt) is not HOST:PORT (e.g. 127.0.0.1:53 or [::1]:53)")
        }
        self.init(host: String(host), port: port)
    }

    private static func port(_ text: String, _ whole: String, _ setting: SettingName) throws -> UInt16 {
        guard let port = UInt16(text), port > 0 else { throw DNSError(.invalidSetting, "\(setting) \(whole.escapedExcerpt): \(text.escapedExcerpt) is not a port") }
        return port
    }

    /// `host:port`, `[v6]:port` for IPv6 addresses.
    public var description: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }
}
