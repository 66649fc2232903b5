import Base

/// The ACME directory object (RFC 8555 §7.1.1): the URLs of every resource and the server's metadata.
public struct Directory: Sendable, Decodable {
    public struct Meta: Sendable, Decodable {
        public var termsOfService: String?
        public var website: String?
        public var caaIdentities: [String]?
        public var externalAccountRequired: Bool?
        /// Let's Encrypt's ACME profiles extension: profile name → description (empty when the
        /// CA describes a profile with something other than text).
        public var profiles: [String: String]?

        enum CodingKeys: String, CodingKey { case termsOfService, website, caaIdentities, externalAccountRequired, profiles }

        /// Metadata is informational: a field of an unexpected JSON type is ignored, never the directory.
        public init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            termsOfService = c.lenient(String.self, forKey: .termsOfService)
            website = c.lenient(String.self, forKey: .website)
            caaIdentities = c.lenient([Readable<String>].self, forKey: .caaIdentities)?.compactMap(\.value)
            externalAccountRequired = c.lenient(Bool.self, forKey: .externalAccountRequired)
            profiles = c.lenient([String: Readable<String>].self, forKey: .profiles)?.mapValues { $0.value ?? "" }
        }
    }

    public var newNonce: String
    public var newAccount: String
    public var newOrder: String
    public var revokeCert: String?
    public var keyChange: String?
    /// ARI (RFC 9773).
    public var renewalInfo: String?
    public var meta: Meta?

    enum CodingKeys: String, CodingKey { case newNonce, newAccount, newOrder, revokeCert, keyChange, renewalInfo, meta }

    /// The three resources every order needs are required; the optional ones are read when they
    /// are text, and any other member (a CA's own extension, of any JSON type) is ignored.
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        newNonce = try c.decode(String.self, forKey: .newNonce)
        newAccount = try c.decode(String.self, forKey: .newAccount)
        newOrder = try c.decode(String.self, forKey: .newOrder)
        revokeCert = c.lenient(String.self, forKey: .revokeCert)
        keyChange = c.lenient(String.self, forKey: .keyChange)
        renewalInfo = c.lenient(String.self, forKey: .renewalInfo)
        meta = c.lenient(Meta.self, forKey: .meta)
    }

    /// Parses a directory document, naming the URL when it is not one.
    public static func parse(_ body: [UInt8], url: String) throws -> Directory {
        do {
            return try JSONDecoder().decode(Directory.self, from: Data(body))
        } catch {
            throw ACMEError(.malformedResponse, "\(url) is not an ACME directory (expected JSON with newNonce, newAccount and newOrder); check \(SettingName.acmeServerURL)")
        }
    }
}
