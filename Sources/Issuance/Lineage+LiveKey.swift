import ACMECrypto
import CertStore

extension Lineage {
    /// The live private key, read through the lineage's own link into its archive and never
    /// through a link out of the tree (`Lineage.readLive`).
    public func liveKey() throws -> PrivateKey {
        try PrivateKey(pem: try readLive("privkey"), file: privkeyPath)
    }

    /// The live leaf certificate, read as `liveKey` reads the key.
    public func liveCertificate() throws -> Certificate {
        try Certificate(pem: try readLive("cert"), file: certPath)
    }

    /// The live `fullchain.pem`, read as `liveKey` reads the key.
    public func liveFullchain() throws -> [Certificate] {
        try Certificate.chain(pem: try readLive("fullchain"), file: fullchainPath)
    }
}
