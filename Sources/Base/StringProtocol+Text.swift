import FoundationEssentials

extension StringProtocol {
    /// Without leading and trailing spaces, tabs and carriage returns.
    public var trimmed: Substring { trimmed(of: " \t\r") }

    /// Without leading and trailing characters from `characters`.
    /// Compared by Unicode scalar: Swift makes "\r\n" one Character, so a Character-wise test
    /// would keep a lone "\n" of `" \t\r\n"`, and the "\r\n" of a line given `" \r"`.
    public func trimmed(of characters: String) -> Substring {
        let s = Substring(self), set = Set(characters.unicodeScalars)
        let trim = { (c: Character) in c.unicodeScalars.allSatisfy(set.contains) }
        let start = s.firstIndex { !trim($0) } ?? s.endIndex
        let end = s.lastIndex { !trim($0) }.map { s.index(after: $0) } ?? start
        return s[start..<Swift.max(start, end)]
    }
}

extension Date {
    /// `2026-02-23 10:00:00 UTC`, how every command prints a moment.
    public var utcText: String {
        formatted(.iso8601).replacing("T", with: " ").replacing("Z", with: " UTC")
    }
}

/// A JSON string literal with the escapes RFC 8259 requires (JWS headers, JWKs, ACME payloads).
public func jsonString(_ value: String) -> String {
    var out = "\""
    for scalar in value.unicodeScalars {
        switch scalar {
        case "\"": out += "\\\""
        case "\\": out += "\\\\"
        case "\n": out += "\\n"
        case "\r": out += "\\r"
        case "\t": out += "\\t"
        case _ where scalar.value < 0x20:
            let hex = String(scalar.value, radix: 16)
            out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
        default: out.unicodeScalars.append(scalar)
        }
    }
    return out + "\""
}

extension StringProtocol {
    /// The text with control characters made visible (`\n`, `\r`, `\t`, `\x1b`, `\u{85}`…), so
    /// that a certificate field, a server's greeting or a line of a file printed in a message,
    /// a report or a mail cannot start a new line, move the cursor or forge output.
    public var escapedForDisplay: String {
        // The common case, printable ASCII only, has nothing to escape.
        if utf8.allSatisfy({ $0 >= 0x20 && $0 < 0x7F }) { return String(self) }
        var out = ""
        for scalar in unicodeScalars {
            switch scalar {
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case _ where scalar.value < 0x20 || scalar.value == 0x7F:
                out += "\\x" + (scalar.value < 0x10 ? "0" : "") + String(scalar.value, radix: 16)
            case _ where (0x80...0x9F).contains(scalar.value) || scalar.value == 0x2028 || scalar.value == 0x2029
                || (0x202A...0x202E).contains(scalar.value) || (0x2066...0x2069).contains(scalar.value):
                // C1 controls, line/paragraph separators and bidirectional overrides.
                out += "\\u{" + String(scalar.value, radix: 16) + "}"
            default:
                out.unicodeScalars.append(scalar)
            }
        }
        return out
    }

    /// At most `limit` characters of the escaped text, with "…" when cut: how an error quotes
    /// what it found in a file or from a peer, never a whole line.
    public func excerpt(_ limit: Int = 40) -> String {
        let escaped = escapedForDisplay
        return escaped.count <= limit ? escaped : String(escaped.prefix(limit)) + "…"
    }
}
