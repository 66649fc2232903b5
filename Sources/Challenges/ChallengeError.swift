import Base
/// A failure while answering a challenge, as one line for the user.
public typealias ChallengeError = ModuleError<ChallengesModule>
public enum ChallengesModule {}

extension ErrorCode where Domain == ChallengeError {
    /// A flag value that is not an address, HOST:PORT or name.
    public static var invalidSetting: Self { Self("challenge.invalidSetting", .usage) }
    /// The responder's port cannot be bound.
    public static var portUnavailable: Self { Self("challenge.portUnavailable", .localState) }
    /// A socket, pipe or thread could not be made.
    public static var system: Self { Self("challenge.system", .localState) }
    /// The webroot is missing or cannot be written.
    public static var webroot: Self { Self("challenge.webroot", .localState) }
    /// The CA sent a token that may not reach a file name.
    public static var invalidToken: Self { Self("challenge.invalidToken", .caRefused) }
    /// A DNS or manual hook failed.
    public static var hookFailed: Self { Self("challenge.hookFailed", .localState) }
    /// The TXT records never became visible at the resolver.
    public static var notPublished: Self { Self("challenge.notPublished", .localState) }
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
