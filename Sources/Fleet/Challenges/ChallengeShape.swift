import Challenges
import FleetStore

/// What a challenge row must look like before acme writes it or serves it. The store is
/// shared by every node and its content is untrusted: a row that is not what acme writes
/// (a token that is not base64url, a key authorization that is not `token.thumbprint`) is
/// never served.
public enum ChallengeShape {
    /// The store's bound for a token (`StoredChallenges.put`), tighter than the responder's 256.
    public static let maxTokenBytes = 255
    /// A key authorization: the token, a dot and the account key's thumbprint (RFC 8555 §8.1,
    /// 43 characters for SHA-256); a little room for other digests, never more.
    public static let maxThumbprintBytes = 128

    /// An HTTP-01 token: base64url, 1-255 bytes. Checked before any query names it.
    public static func isToken(_ token: String) -> Bool {
        token.utf8.count <= maxTokenBytes && isValidChallengeToken(token)
    }

    /// A TLS-ALPN-01 row's name (the identifier the CA validates): a DNS name in lower case,
    /// labels of letters, digits and hyphens, at most 253 bytes; no wildcard (RFC 8737 §3).
    public static func isIdentifier(_ name: String) -> Bool {
        let bytes = Array(name.utf8)
        guard (1...253).contains(bytes.count) else { return false }
        return bytes.split(separator: UInt8(ascii: "."), omittingEmptySubsequences: false).allSatisfy { label in
            (1...63).contains(label.count) && label.first != UInt8(ascii: "-") && label.last != UInt8(ascii: "-")
                && label.allSatisfy { c in
                    (c >= UInt8(ascii: "a") && c <= UInt8(ascii: "z")) || (c >= UInt8(ascii: "0") && c <= UInt8(ascii: "9")) || c == UInt8(ascii: "-")
                }
        }
    }

    /// `keyAuthorization` is `<token>.<thumbprint>`, both base64url; with `token` given, it must be that token's.
    public static func isKeyAuthorization(_ keyAuthorization: String, token: String?) -> Bool {
        let parts = keyAuthorization.split(separator: ".", maxSplits: 2, omittingEmptySubsequences: false)
        guard parts.count == 2 else { return false }
        let (first, thumbprint) = (String(parts[0]), String(parts[1]))
        guard isToken(first), thumbprint.utf8.count <= maxThumbprintBytes, isValidChallengeToken(thumbprint) else { return false }
        return token.map { $0 == first } ?? true
    }

    /// Whether a stored row may be served: the name or token and the key authorization have acme's shape.
    public static func isServable(_ kind: StoredChallenges.Kind, token: String, keyAuthorization: String) -> Bool {
        switch kind {
        case .http01: isToken(token) && isKeyAuthorization(keyAuthorization, token: token)
        case .tlsALPN01: isIdentifier(token) && isKeyAuthorization(keyAuthorization, token: nil)
        }
    }
}
