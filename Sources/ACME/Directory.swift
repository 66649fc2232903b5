/// The ACME directory object (RFC 8555 §7.1.1): the URLs of every resource and the server's metadata.
public struct Directory: Sendable, Decodable {
    public struct Meta: Sendable, Decodable {
        public var termsOfService: String?
        public var website: String?
        public var caaIdentities: [String]?
        public var externalAccountRequired: Bool?
        /// Let's Encrypt's ACME profiles extension: profile name → description.
        public var profiles: [String: String]?
    }

    public var newNonce: String
    public var newAccount: String
    public var newOrder: String
    public var revokeCert: String?
    public var keyChange: String?
    /// ARI (RFC 9773).
    public var renewalInfo: String?
    public var meta: Meta?

    /// Parses a directory document, naming the URL when it is not one.
    public static func parse(_ body: [UInt8], url: String) throws -> Directory {
        do {
            return try JSONDecoder().decode(Directory.self, from: Data(body))
        } catch {
            throw ACMEError(.malformedResponse, "\(url) is not an ACME directory (expected JSON with newNonce, newAccount and newOrder); check the --server URL")
        }
    }
}
