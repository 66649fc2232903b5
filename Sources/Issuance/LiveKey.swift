import ACMECrypto
import CertStore

extension Lineage {
    /// The live private key, read through the lineage's own link into its archive and never
    /// through a link out of the tree (`Lineage.readLive`).
    public func liveKey() throws -> PrivateKey {
        try PrivateKey(pem: try readLive("privkey"), file: privkeyPath)
    }
}
