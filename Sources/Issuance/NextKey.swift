import ACMECrypto
import Base
import CertStore

/// The key the next renewal of a lineage will use, made in advance (`acme tlsa --next`) and kept
/// in `archive/<name>/.acme-next-privkey.pem` (0600) so that its DANE `3 1 1` record can be
/// published before the key changes. certbot ignores the file.
public enum NextKey {
    public enum State {
        case absent
        case usable(PrivateKey)
        /// There, but unreadable or of another key type: the reason, for the progress line.
        case unusable(String)
    }

    /// What is prepared for `lineage`, if it is a key of `type`. The file is read without
    /// following a link (below `archive/`): a link there is an error, never a key that a TLSA
    /// record is printed for or a renewal certifies, nor one replaced in silence.
    public static func read(_ lineage: Lineage, type: KeyType) throws -> State {
        guard FS.exists(lineage.nextKeyPath) else { return .absent }
        do {
            let key = try PrivateKey(pem: try lineage.readArchived(FS.lastComponent(lineage.nextKeyPath)), file: lineage.nextKeyPath)
            guard key.type == type else { return .unusable("it is a \(key.type) key, not \(type)") }
            return .usable(key)
        } catch let error as BaseError where error.code == .unsafePath {
            throw IssuanceError(.unsafeLineageFile, "the key prepared for the next renewal: \(error.message)")
        } catch {
            return .unusable("\(error)")
        }
    }

    /// The prepared key of `type`, made now (replacing an unusable one) if there is none.
    public static func prepare(_ lineage: Lineage, type: KeyType) throws -> (key: PrivateKey, created: Bool) {
        if case .usable(let key) = try read(lineage, type: type) { return (key, false) }
        let key = try PrivateKey.generate(type)
        try FS.writeAtomically(lineage.nextKeyPath, try key.pemPKCS8(), mode: 0o600, below: lineage.archiveRoot)
        return (key, true)
    }

    /// After a renewal made the prepared key live: the next renewal needs another one.
    public static func consumed(_ lineage: Lineage) throws {
        guard FS.exists(lineage.nextKeyPath) else { return }
        try FS.remove(lineage.nextKeyPath)
    }
}
