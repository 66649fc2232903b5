import ACMECrypto
import CertStore

/// DANE TLSA records (RFC 6698, RFC 7671) for a mail server's certificate:
/// `3 1 1` pins the leaf's key (SHA-256 of its SubjectPublicKeyInfo), `2 1 1` the issuing
/// CA's key. With a key prepared for the next renewal, its `3 1 1` record can be published
/// before the renewal, so that DANE never breaks during a key rollover.
public struct TLSARecords: Sendable {
    public struct Record: Sendable, Equatable {
        public var usage: Int, selector: Int, matching: Int
        public var data: String
        public var comment: String

        /// `<usage> 1 1`: SHA-256 over a SubjectPublicKeyInfo.
        static func publicKey(usage: Int, spki: [UInt8], comment: String) -> Record {
            Record(usage: usage, selector: 1, matching: 1, data: Digest.hex(Digest.sha256(spki)), comment: comment)
        }

        public func zoneLine(owner: String) -> String {
            "\(owner) IN TLSA \(usage) \(selector) \(matching) \(data)"
        }
    }

    /// `_<port>._tcp.<host>.`
    public static func owner(host: String, port: Int) -> String {
        "_\(port)._tcp.\(host.hasSuffix(".") ? host : host + ".")"
    }

    /// `3 1 1` for the leaf and, when the chain holds its issuer, `2 1 1` for that.
    public static func records(chain: [Certificate]) -> [Record] {
        guard let leaf = chain.first else { return [] }
        var records = [Record.publicKey(usage: 3, spki: leaf.publicKeyDER,
                              comment: "current key of \(leaf.subjectCommonName ?? leaf.dnsNames.first ?? "the certificate")")]
        if chain.count > 1 {
            let issuer = chain[1]
            records.append(Record.publicKey(usage: 2, spki: issuer.publicKeyDER,
                                  comment: "issuing CA \(issuer.subjectCommonName ?? "")"))
        }
        return records
    }

    /// The `3 1 1` record of the key the next renewal of `lineage` will use: the current key
    /// when the lineage reuses its key, else a key prepared now (or earlier) in `nextKeyPath`.
    public static func nextRecord(lineage: Lineage, store: LineageStore) throws -> (record: Record, created: Bool) {
        let config = try store.renewalConfig(of: lineage)
        let current = try PrivateKey(pem: try FS.read(lineage.privkeyPath))
        if RenewalRequest.isTrue(config[param: "reuse_key"]) {
            return (Record.publicKey(usage: 3, spki: try current.publicKeyDER(),
                           comment: "next renewal reuses the current key"), false)
        }
        var created = false
        let next: PrivateKey
        if FS.exists(lineage.nextKeyPath), let prepared = try? PrivateKey(pem: try FS.read(lineage.nextKeyPath)), prepared.type == current.type {
            next = prepared
        } else {
            next = try PrivateKey.generate(current.type)
            try FS.writeAtomically(lineage.nextKeyPath, try next.pemPKCS8(), mode: 0o600)
            created = true
        }
        return (Record.publicKey(usage: 3, spki: try next.publicKeyDER(),
                       comment: "key of the next renewal (\(lineage.nextKeyPath))"), created)
    }
}
