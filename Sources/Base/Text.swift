import FoundationEssentials

extension StringProtocol {
    /// Without leading and trailing spaces, tabs and carriage returns.
    public var trimmed: Substring { trimmed(of: " \t\r") }

    /// Without leading and trailing characters from `characters`.
    public func trimmed(of characters: String) -> Substring {
        let s = Substring(self)
        let start = s.firstIndex { !characters.contains($0) } ?? s.endIndex
        let end = s.lastIndex { !characters.contains($0) }.map { s.index(after: $0) } ?? start
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
