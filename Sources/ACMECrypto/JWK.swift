/// A public JSON Web Key with only the members RFC 7638 requires, so that
/// its JSON is canonical and its thumbprint is well defined.
public struct JWK: Sendable, Hashable {
    public let members: [String: String]

    public init(members: [String: String]) { self.members = members }

    /// Members in lexicographic order, no whitespace (RFC 7638 §3.3).
    public var json: String {
        "{" + members.keys.sorted().map { "\(jsonString($0)):\(jsonString(members[$0]!))" }.joined(separator: ",") + "}"
    }

    /// base64url(SHA-256(canonical JSON)), used in key authorizations.
    public var thumbprint: String { Base64URL.encode(Digest.sha256(Array(json.utf8))) }
}

/// A JSON string literal with the escapes RFC 8259 requires.
func jsonString(_ value: String) -> String {
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
