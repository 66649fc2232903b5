import ACMECrypto
import Base
import CertStore
import Issuance

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
                              comment: "current key of \((leaf.subjectCommonName ?? leaf.dnsNames.first ?? "the certificate").excerpt(64))")]
        if chain.count > 1 {
            let issuer = chain[1]
            records.append(Record.publicKey(usage: 2, spki: issuer.publicKeyDER,
                                  comment: "issuing CA \((issuer.subjectCommonName ?? "").excerpt(64))"))
        }
        return records
    }

    /// The `3 1 1` record of the key the next renewal of `lineage` will use: the current key
    /// when the lineage reuses its key, else the key prepared now (or earlier) by `NextKey`.
    public static func nextRecord(lineage: Lineage, store: LineageStore) throws -> (record: Record, created: Bool) {
        let config = try store.renewalConfig(of: lineage)
        let current = try lineage.liveKey()
        if try RenewalParams.reusesKey(config, path: lineage.renewalConfigPath) {
            return (Record.publicKey(usage: 3, spki: try current.publicKeyDER(),
                           comment: "next renewal reuses the current key"), false)
        }
        let (next, created) = try NextKey.prepare(lineage, type: current.type)
        return (Record.publicKey(usage: 3, spki: try next.publicKeyDER(),
                       comment: "key of the next renewal (\(lineage.nextKeyPath))"), created)
    }

    /// What `acme tlsa` prints: the owner name, the records, and notes for stderr.
    public struct Listing: Sendable {
        public var owner: String
        public var records: [Record]
        public var notes: [String]
    }

    /// The records of a lineage (`certName`, with `next`: also the next renewal's key) or of a
    /// certificate file, for `host` (default: the certificate's first name) and `port`.
    public static func listing(configDirectory: String, certName: String?, certPath: String?, host: String?, port: Int,
                               next: Bool) throws -> Listing {
        let store = LineageStore(configDirectory: configDirectory)
        var lineage: Lineage?
        let file: String
        if let certName {
            let found = try store.existingLineage(named: certName)
            lineage = found
            file = found.fullchainPath
        } else {
            file = certPath ?? ""
        }
        let chain = try lineage?.liveFullchain() ?? Certificate.chain(file: file)
        guard let leaf = chain.first else { throw CryptoError(.invalidCertificate, "\(file) holds no PEM certificate") }
        // As provision does: the first certificate must be the server's own, else the record
        // printed as the current key would pin the CA.
        if leaf.isCA || (chain.count > 1 && !leaf.isSigned(by: chain[1])) {
            throw CryptoError(.invalidCertificate, "\(file): the first certificate (\(leaf.label)) is not the server's certificate followed by its issuer; put the leaf first, as in fullchain.pem")
        }
        // The owner name goes into a zone file: only a valid DNS name from the certificate.
        let named = host ?? leaf.dnsNames.first(where: { !$0.hasPrefix("*.") }) ?? leaf.subjectCommonName ?? ""
        let ownerHost: String
        do {
            ownerHost = try DomainName.normalize(named)
        } catch {
            throw IssuanceError(.invalidDomain, "\(file): no DNS name to put in the record owner (found \"\(named.excerpt())\"); give --host mx.example.com")
        }
        let owner = owner(host: ownerHost, port: port)
        var listing = Listing(owner: owner, records: records(chain: chain), notes: [])
        if chain.count < 2 { listing.notes.append("note: \(file) holds no issuer certificate, so there is no 2 1 1 record") }
        if next, let lineage {
            let (record, created) = try nextRecord(lineage: lineage, store: store)
            if created { listing.notes.append("made the key for the next renewal: \(lineage.nextKeyPath) (mode 0600)") }
            listing.records.insert(record, at: 1)
        }
        return listing
    }
}
