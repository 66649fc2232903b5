/// `--store postgresql://user:password@host:port/db?sslmode=…` (or `ACME_STORE`): what libpq is
/// given, and the text every message shows instead, with the password replaced by `***`.
public struct StoreURL: Sendable, CustomStringConvertible {
    /// The URL as given; only libpq sees it.
    let text: String
    /// The URL with every password (userinfo and a `password=` parameter) as `***`.
    public let redacted: String
    /// The password's spellings (raw and percent-decoded), scrubbed from libpq's messages too.
    let secrets: [String]

    public init(_ text: String) throws {
        guard text.hasPrefix("postgresql://") || text.hasPrefix("postgres://") else {
            throw FleetError(.invalidURL, "the store \"\(Self.scrubbed(text))\" is not a postgresql:// URL; give --store postgresql://USER@HOST[:PORT]/DATABASE (or set ACME_STORE)")
        }
        guard text.utf8.count <= 4096, !text.utf8.contains(where: { $0 < 0x20 || $0 == 0x7f }) else {
            throw FleetError(.invalidURL, "the store URL is longer than 4 KiB or holds control characters; give --store postgresql://USER@HOST[:PORT]/DATABASE")
        }
        self.text = text
        var secrets: [String] = []
        let schemeEnd = text.firstRange(of: "://")!.upperBound
        let authorityEnd = text[schemeEnd...].firstIndex(where: { $0 == "/" || $0 == "?" }) ?? text.endIndex
        var redacted = String(text[..<schemeEnd])
        let authority = text[schemeEnd..<authorityEnd]
        if let at = authority.lastIndex(of: "@") {
            let userinfo = authority[..<at]
            if let colon = userinfo.firstIndex(of: ":") {
                secrets.append(String(userinfo[userinfo.index(after: colon)...]))
                redacted += userinfo[..<colon] + ":***"
            } else {
                redacted += userinfo
            }
            redacted += authority[at...]
        } else {
            redacted += authority
        }
        var rest = String(text[authorityEnd...])
        if let query = rest.firstIndex(of: "?") {
            let parameters = rest[rest.index(after: query)...].split(separator: "&", omittingEmptySubsequences: false).map { parameter -> String in
                guard parameter.lowercased().hasPrefix("password=") else { return String(parameter) }
                secrets.append(String(parameter.dropFirst("password=".count)))
                return "password=***"
            }
            rest = rest[...query] + parameters.joined(separator: "&")
        }
        redacted += rest
        self.redacted = redacted
        self.secrets = secrets.filter { !$0.isEmpty }.flatMap { [$0, Self.percentDecoded($0)] }
    }

    public var description: String { redacted }

    /// `message` with every spelling of the password replaced by `***`.
    func scrub(_ message: String) -> String {
        var message = message
        for secret in secrets.sorted(by: { $0.count > $1.count }) where !secret.isEmpty {
            message = message.replacingAll(secret, with: "***")
        }
        return message
    }

    /// What a non-URL may be shown as: key=value conninfo strings may hold `password=…`.
    static func scrubbed(_ text: String) -> String {
        var text = text
        // Any scheme's `user:password@` (a mysql:// URL given by mistake holds a password too).
        if let slashes = text.firstIndex(of: "/"), slashes > text.startIndex, text[text.index(before: slashes)] == ":",
           text[slashes...].hasPrefix("//") {
            let start = text.index(slashes, offsetBy: 2)
            let authorityEnd = text[start...].firstIndex(where: { "/?#".contains($0) }) ?? text.endIndex
            if let at = text[start..<authorityEnd].lastIndex(of: "@"), let colon = text[start..<at].firstIndex(of: ":") {
                text.replaceSubrange(text.index(after: colon)..<at, with: "***")
            }
        }
        let words = text.split(separator: " ", omittingEmptySubsequences: false).map { word in
            word.lowercased().hasPrefix("password=") ? "password=***" : String(word)
        }
        let shown = words.joined(separator: " ")
        return shown.count > 100 ? String(shown.prefix(100)) + "…" : shown
    }

    static func percentDecoded(_ text: String) -> String {
        var bytes: [UInt8] = []
        var iterator = Array(text.utf8)[...]
        while let byte = iterator.popFirst() {
            if byte == UInt8(ascii: "%"), iterator.count >= 2,
               let value = UInt8(String(decoding: iterator.prefix(2), as: UTF8.self), radix: 16) {
                bytes.append(value)
                iterator = iterator.dropFirst(2)
            } else {
                bytes.append(byte)
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}

extension String {
    func replacingAll(_ target: String, with replacement: String) -> String {
        guard !target.isEmpty else { return self }
        var result = ""
        var rest = self[...]
        while let range = rest.firstRange(of: target) {
            result += rest[..<range.lowerBound] + replacement
            rest = rest[range.upperBound...]
        }
        return result + rest
    }
}
