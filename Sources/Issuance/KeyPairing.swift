import ACMECrypto
import Base
import CertStore

/// `--key-type`: one key type, or one ECDSA and one RSA key type for a pair of lineages
/// (`ecdsa,rsa`, `ec384,rsa3072`, in either order).
public enum KeyTypeChoice: Sendable, Equatable, CustomStringConvertible {
    case single(KeyType)
    case pair(ecdsa: KeyType, rsa: KeyType)

    /// A flag value, or a usage error naming `flag` and what to give instead.
    public init(parsing text: String, flag: String) throws {
        let parts = text.split(separator: ",", omittingEmptySubsequences: false).map { String($0.trimmed) }
        if parts.count == 1 {
            self = .single(try KeyType(parsing: parts[0], flag: flag))
            return
        }
        guard parts.count == 2, !parts.contains(where: \.isEmpty) else {
            throw IssuanceError(.invalidKeyTypePair, "\(flag) \(text.escapedForDisplay): give one key type, or two separated by a comma, one ECDSA and one RSA (e.g. ecdsa,rsa or ec384,rsa3072)")
        }
        let types = try parts.map { try KeyType(parsing: $0, flag: flag) }
        guard let ecdsa = types.first(where: \.isECDSA), let rsa = types.first(where: { !$0.isECDSA }) else {
            let family = types[0].isECDSA ? "ECDSA" : "RSA"
            throw IssuanceError(.invalidKeyTypePair, "\(flag) \(text.escapedForDisplay) names two \(family) key types; a pair is one ECDSA and one RSA key type, e.g. ecdsa,rsa")
        }
        self = .pair(ecdsa: ecdsa, rsa: rsa)
    }

    /// The key type of the first (or only) lineage: the ECDSA one of a pair.
    public var first: KeyType {
        switch self {
        case .single(let type): type
        case .pair(let ecdsa, _): ecdsa
        }
    }

    public var description: String {
        switch self {
        case .single(let type): type.description
        case .pair(let ecdsa, let rsa): "\(ecdsa),\(rsa)"
        }
    }
}

/// Which lineages form an ECDSA + RSA pair (`acme issue --key-type ecdsa,rsa`): the one place
/// that knows. The ECDSA lineage is `<name>`, the RSA one `<name>-rsa`, and each renewal conf
/// names the other in `[renewalparams]` as `acme_key_pair = <other>` (certbot ignores keys it
/// does not know). `acme renew` and the daemon renew a pair together, `acme provision` finds
/// `<name>-rsa` as the ALT pair by its name.
public enum KeyPairing {
    /// The `[renewalparams]` key naming the other lineage of the pair.
    public static let paramKey = "acme_key_pair"
    /// What the RSA lineage's name adds to the ECDSA one's.
    public static let rsaSuffix = "-rsa"

    /// The ECDSA lineage's name without `--cert-name`: the first name without `*.`. Never
    /// `-0001` on a clash, as a single lineage gets: running the same command again must find
    /// the same pair.
    public static func defaultName(firstDomain: String) -> String {
        firstDomain.hasPrefix("*.") ? String(firstDomain.dropFirst(2)) : firstDomain
    }

    /// The RSA lineage's name for an ECDSA lineage named `name`.
    public static func rsaLineageName(for name: String) -> String { name + rsaSuffix }

    /// The other lineage a renewal conf names (`acme_key_pair`), nil when it names none;
    /// an invalid name is an error naming `path`.
    public static func partner(in config: RenewalConfig, path: String) throws -> String? {
        try RenewalParams.Values(config: config, path: path).pairedLineage()
    }

    /// Whether a renewal conf's lineage is the ECDSA one (certbot's `key_type`; RSA when absent).
    public static func holdsECDSA(_ config: RenewalConfig, path: String) throws -> Bool {
        try RenewalParams.Values(config: config, path: path).keyType().isECDSA
    }

    /// One pair as the renewal confs record it.
    public struct Pair: Sendable, Equatable {
        public var ecdsa: String
        public var rsa: String
        public init(ecdsa: String, rsa: String) {
            self.ecdsa = ecdsa
            self.rsa = rsa
        }
    }

    /// Every pair under `configDirectory`: lineages whose conf names a partner whose conf exists
    /// and names it back; the ECDSA member is the one whose conf says `key_type = ecdsa`.
    /// Confs that cannot be read are errors (no pair is silently missed).
    public static func pairs(configDirectory: String) throws -> [Pair] {
        let store = LineageStore(configDirectory: configDirectory)
        var partners: [String: (partner: String, ecdsa: Bool)] = [:]
        for lineage in try store.allLineages() {
            let config = try store.renewalConfig(of: lineage)
            let values = try RenewalParams.Values(config: config, path: lineage.renewalConfigPath)
            if let partner = try values.pairedLineage() {
                partners[lineage.name] = (partner, try values.keyType().isECDSA)
            }
        }
        var pairs: [Pair] = []
        for (name, entry) in partners where entry.ecdsa {
            if let back = partners[entry.partner], back.partner == name, !back.ecdsa {
                pairs.append(Pair(ecdsa: name, rsa: entry.partner))
            }
        }
        return pairs.sorted { $0.ecdsa < $1.ecdsa }
    }

    /// Records `partner` in the lineage's conf when it does not already (a lineage that was
    /// valid and not due when the pair was asked for); returns whether the conf changed.
    @discardableResult
    static func record(partner: String, in lineage: Lineage, store: LineageStore) throws -> Bool {
        var config = try store.renewalConfig(of: lineage)
        guard config[param: paramKey] != partner else { return false }
        config.renewalParams.removeAll { $0.key == paramKey }
        config.renewalParams.append((key: paramKey, value: partner))
        try FS.writeAtomically(lineage.renewalConfigPath, config.serialized(), mode: FS.mode(lineage.renewalConfigPath) ?? 0o644)
        return true
    }

    /// Before anything is ordered: a lineage that exists under a pair's name must hold the
    /// family it stands for, so that the pair never silently turns an RSA lineage into ECDSA.
    static func checkFamilies(ecdsaName: String, rsaName: String, store: LineageStore) throws {
        for (name, wantECDSA) in [(ecdsaName, true), (rsaName, false)] {
            guard let lineage = try store.lineage(named: name), FS.exists(lineage.privkeyPath) else { continue }
            let key: PrivateKey
            do {
                key = try lineage.liveKey()
            } catch {
                throw IssuanceError(.unreadableLineage, "cannot read the key of lineage \(name) (\(lineage.privkeyPath)): \(error); restore it, or delete the lineage with acme delete --cert-name \(name)")
            }
            if key.type.isECDSA != wantECDSA {
                let has = key.type.isECDSA ? "ECDSA" : "RSA", wants = wantECDSA ? "ECDSA" : "RSA"
                throw IssuanceError(.keyTypeConflict, "lineage \(name) holds an \(has) key, but in an ECDSA + RSA pair it is the \(wants) one; pass --cert-name NEW to name the pair NEW and NEW\(rsaSuffix), or delete \(name) first")
            }
        }
    }
}

/// The RSA half of a pair failed after the ECDSA half was saved: the ECDSA lineage stays (it
/// is valid), and the message says which lineage is missing and how to get it. Code and
/// category are those of the failure (a refusal by the CA exits 1, an unreachable CA 3, …).
public struct PairIncompleteError: CodedError {
    public var underlying: any Error
    public var ecdsaLineage: String
    public var rsaLineage: String

    public var category: ErrorCategory { (underlying as? any CodedError)?.category ?? .caRefused }
    public var codeName: String { (underlying as? any CodedError)?.codeName ?? "issuance.pairIncomplete" }
    public var message: String {
        "the ECDSA certificate is saved in lineage \(ecdsaLineage) and stays in use, but the RSA certificate (lineage \(rsaLineage)) was not obtained: \(underlying); run the same acme issue command again to obtain it (\(ecdsaLineage) is not due, so only the RSA certificate is ordered)"
    }
}
