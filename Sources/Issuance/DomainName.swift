import Base

/// Checks and normalises the names a user asks a certificate for.
public enum DomainName {
    /// Lowercases, drops one trailing dot, and checks LDH syntax (RFC 1123 §2.1, RFC 8555 §7.1.4 for wildcards).
    /// Throws a one-line error naming the offending value.
    public static func normalize(_ raw: String) throws -> String {
        // Length first: a name is never split into labels while it can be megabytes long.
        guard raw.utf8.count <= 254 else {
            throw IssuanceError(.invalidDomain, "invalid domain name \"\(raw.excerpt())\": it is longer than 253 characters")
        }
        var name = raw.lowercased()
        if name.hasSuffix(".") { name.removeLast() }
        let problem: String?
        var labels = name.split(separator: ".", omittingEmptySubsequences: false).map(String.init)
        if labels.first == "*" { labels.removeFirst() }
        if name.isEmpty {
            problem = "it is empty"
        } else if name.utf8.count > 253 {
            problem = "it is longer than 253 characters"
        } else if labels.count < 2 {
            problem = "it is not a fully qualified domain name (e.g. mail.example.com)"
        } else if labels.contains(where: { $0.contains("*") }) {
            problem = "a wildcard is only allowed as the whole first label (*.example.com)"
        } else if let bad = labels.first(where: { !isValidLabel($0) }) {
            problem = bad.isEmpty ? "it has an empty label" : "the label \"\(bad)\" is not letters, digits and inner hyphens (max 63)"
        } else if labels.allSatisfy({ $0.allSatisfy(\.isNumber) }) {
            problem = "IP addresses are not supported; use a DNS name"
        } else {
            problem = nil
        }
        if let problem {
            throw IssuanceError(.invalidDomain, "invalid domain name \"\(raw.escapedForDisplay)\": \(problem)")
        }
        return name
    }

    /// Normalises every name and drops duplicates, keeping the first occurrence's order.
    public static func normalize(all raw: [String]) throws -> [String] {
        var seen = Set<String>()
        var out: [String] = []
        for name in raw {
            // `-d a.example.com,b.example.com` works as in certbot.
            for part in name.split(separator: ",") {
                let n = try normalize(String(part.trimmed))
                if seen.insert(n).inserted { out.append(n) }
            }
        }
        guard !out.isEmpty else { throw IssuanceError(.invalidDomain, "no domain name given; pass -d mail.example.com") }
        return out
    }

    static func isValidLabel(_ label: String) -> Bool {
        let u = Array(label.utf8)
        guard !u.isEmpty, u.count <= 63, u.first != 0x2D, u.last != 0x2D else { return false }
        return u.allSatisfy { ($0 >= 0x61 && $0 <= 0x7A) || ($0 >= 0x30 && $0 <= 0x39) || $0 == 0x2D }
    }
}
