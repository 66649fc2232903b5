/// Public CAs log every certificate in Certificate Transparency logs (RFC 9162), where
/// anyone can read the names (crt.sh). `acme issue` says so once per run when the CA is
/// public, so that nobody publishes internal host names by surprise.
public enum TransparencyNotice {
    /// Whether `server` looks like a public CA: not a private CA trusted through
    /// `--ca-bundle`, and not on a loopback, private or reserved-for-testing host.
    public static func applies(server: String, caBundle: String?) -> Bool {
        guard caBundle == nil else { return false }
        var host = Substring(server)
        if let scheme = host.firstRange(of: "://") { host = host[scheme.upperBound...] }
        host = host.prefix { $0 != "/" }
        if host.hasPrefix("[") { return false }  // IPv6 literal: a lab or private CA
        host = host.prefix { $0 != ":" }
        let name = host.lowercased()
        if name == "localhost" || name.hasSuffix(".localhost") { return false }
        for suffix in [".test", ".local", ".internal", ".lan", ".home.arpa", ".example", ".invalid", ".corp"] where name.hasSuffix(suffix) {
            return false
        }
        let octets = name.split(separator: ".").compactMap { UInt8($0) }
        if octets.count == 4 {
            switch (octets[0], octets[1]) {
            case (127, _), (10, _), (192, 168), (169, 254): return false
            case (172, 16...31): return false
            default: return true
            }
        }
        return true
    }

    public static func text(names: [String]) -> String {
        let wildcardHint = names.first.map { name -> String in
            let parts = name.split(separator: ".")
            return parts.count > 2 ? " (e.g. *.\(parts.dropFirst().joined(separator: ".")), with DNS-01)" : ""
        } ?? ""
        return "note: the CA publishes every certificate in public Certificate Transparency logs: \(names.joined(separator: ", ")) will be visible to anyone (e.g. on crt.sh). For names that should stay private, use a wildcard certificate\(wildcardHint) or a private CA."
    }
}
