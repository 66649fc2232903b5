import Base
import CPostgres

/// A connection string as libpq itself reads it: `PQconninfoParse`, the parser
/// `PQconnectdbParams` runs on the text acme passes it. Whatever spelling the text uses (a
/// percent-encoded or raw `?`, `#`, `@` in the user info, a percent-encoded query key, a quoted
/// key=value value), the options here are what libpq will use; an option libpq marks as a
/// password (`dispchar` "*": `password`, `sslpassword`, any a later libpq adds) is `secret`.
struct ConnectionString: Sendable {
    struct Option: Sendable, Equatable {
        let keyword: String
        let value: String
        let secret: Bool
    }

    enum Form: Sendable, Equatable {
        /// `postgresql://` or `postgres://` (the prefixes libpq recognizes, case-sensitive).
        case uri(scheme: String)
        /// `key=value` pairs, values optionally in single quotes with backslash escapes.
        case keyValue
    }

    let form: Form
    /// The options the text sets, in libpq's order (`PQconndefaults`).
    let options: [Option]

    /// nil when libpq cannot parse `text`. libpq's message is not kept: it quotes the text.
    init?(_ text: String) {
        var message: UnsafeMutablePointer<CChar>?
        let parsed = PQconninfoParse(text, &message)
        if let message { PQfreemem(message) }
        guard let parsed else { return nil }
        defer { PQconninfoFree(parsed) }
        var options: [Option] = []
        var entry = parsed
        while let keyword = entry.pointee.keyword {
            if let value = entry.pointee.val {
                let secret = entry.pointee.dispchar.map { String(cString: $0).contains("*") } ?? false
                options.append(Option(keyword: String(cString: keyword), value: String(cString: value), secret: secret))
            }
            entry += 1
        }
        self.options = options
        let scheme = ["postgresql://", "postgres://"].first { text.hasPrefix($0) }
        self.form = scheme.map { .uri(scheme: $0) } ?? .keyValue
    }

    func value(_ keyword: String) -> String? { options.first { $0.keyword == keyword }?.value }

    /// Every value libpq would use as a password.
    var secrets: [String] { options.filter(\.secret).map(\.value).filter { !$0.isEmpty } }

    /// The text messages show: rebuilt from the parsed options in the form given, every secret
    /// as `***`. Nothing of the original text is copied, so no spelling of a password can slip
    /// through; values are percent-encoded (URI) or quoted (key=value), so the line stays one line.
    var redacted: String {
        switch form {
        case .uri(let scheme): return redactedURI(scheme: scheme)
        case .keyValue:
            return options.map { "\($0.keyword)=\($0.secret ? "***" : Self.quoted($0.value))" }.joined(separator: " ")
        }
    }

    private func redactedURI(scheme: String) -> String {
        var text = scheme
        let user = value("user"), password = options.first { $0.keyword == "password" }
        if user != nil || password != nil {
            text += Self.encoded(user ?? "") + (password != nil ? ":***" : "") + "@"
        }
        let authority = Self.authority(hosts: value("host"), ports: value("port"))
        text += authority ?? ""
        if let database = value("dbname") { text += "/" + Self.encoded(database) }
        let inAuthority: Set<String> = authority != nil ? ["user", "password", "dbname", "host", "port"] : ["user", "password", "dbname"]
        let query = options.filter { !inAuthority.contains($0.keyword) }.map { "\($0.keyword)=\($0.secret ? "***" : Self.encoded($0.value))" }
        if !query.isEmpty { text += "?" + query.joined(separator: "&") }
        return text
    }

    /// `host[:port],…` when every host is a name or an address that needs no encoding and the
    /// ports pair up with them; nil otherwise (host and port then go into the query).
    private static func authority(hosts: String?, ports: String?) -> String? {
        guard let hosts else { return ports == nil ? "" : nil }
        let names = hosts.split(separator: ",", omittingEmptySubsequences: false).map(String.init)
        let numbers = ports.map { $0.split(separator: ",", omittingEmptySubsequences: false).map(String.init) } ?? names.map { _ in "" }
        guard numbers.count == names.count else { return nil }
        var parts: [String] = []
        for (name, port) in zip(names, numbers) {
            let literal: String
            if !name.isEmpty, name.unicodeScalars.allSatisfy({ unreserved.contains($0) }) {
                literal = name
            } else if name.contains(":"), name.unicodeScalars.allSatisfy({ $0 == ":" || $0 == "." || $0.properties.isASCIIHexDigit }) {
                literal = "[" + name + "]"
            } else {
                return nil
            }
            guard port.utf8.allSatisfy({ (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) }) else { return nil }
            parts.append(port.isEmpty ? literal : literal + ":" + port)
        }
        return parts.joined(separator: ",")
    }

    private static let unreserved = Set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~".unicodeScalars)

    /// Percent-encoding of everything but RFC 3986's unreserved characters.
    static func encoded(_ value: String) -> String {
        var text = ""
        for byte in value.utf8 {
            if byte < 0x80, unreserved.contains(Unicode.Scalar(byte)) {
                text.unicodeScalars.append(Unicode.Scalar(byte))
            } else {
                let hex = String(byte, radix: 16, uppercase: true)
                text += "%" + (hex.count == 1 ? "0" + hex : hex)
            }
        }
        return text
    }

    /// A key=value value as libpq reads it back: in single quotes, with `\` and `'` escaped,
    /// when it is empty or holds a space, a quote, a backslash or anything outside printable
    /// ASCII; bidirectional overrides and other invisible controls made visible.
    static func quoted(_ value: String) -> String {
        let plain = !value.isEmpty && value.utf8.allSatisfy { $0 > 0x20 && $0 < 0x7f && $0 != UInt8(ascii: "'") && $0 != UInt8(ascii: "\\") }
        if plain { return value }
        var text = "'"
        for scalar in value.unicodeScalars {
            if scalar == "\\" || scalar == "'" { text += "\\" }
            text.unicodeScalars.append(scalar)
        }
        return (text + "'").escapedForDisplay
    }
}
