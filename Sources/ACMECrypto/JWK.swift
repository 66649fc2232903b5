import Base
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
