/// A failure while answering a challenge, as one line for the user.
public struct ChallengeError: Error, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}

/// ACME tokens are base64url (RFC 8555 §8.1): nothing else may reach a file
/// name or a URL path match, so `/`, `.` and `..` can never get through.
public func isValidChallengeToken(_ token: String) -> Bool {
    let count = token.utf8.count
    guard count >= 1, count <= 256 else { return false }
    return token.utf8.allSatisfy { c in
        (c >= UInt8(ascii: "A") && c <= UInt8(ascii: "Z")) || (c >= UInt8(ascii: "a") && c <= UInt8(ascii: "z"))
            || (c >= UInt8(ascii: "0") && c <= UInt8(ascii: "9")) || c == UInt8(ascii: "-") || c == UInt8(ascii: "_")
    }
}
