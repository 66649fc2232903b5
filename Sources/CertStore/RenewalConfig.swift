import Base
/// certbot's `renewal/<name>.conf`, a configobj file: top-level paths and
/// version, a `[renewalparams]` section, and optionally a `[[webroot_map]]`
/// subsection inside it.
public struct RenewalConfig: Sendable {
    public var version: String?
    public var archiveDir: String
    public var cert: String
    public var privkey: String
    public var chain: String
    public var fullchain: String
    /// Other top-level keys (e.g. `renew_before_expiry`), in file order.
    public var topLevel: [(key: String, value: String)]
    public var renewalParams: [(key: String, value: String)]
    public var webrootMap: [(domain: String, path: String)]

    public init(version: String?, archiveDir: String, cert: String, privkey: String, chain: String, fullchain: String,
                topLevel: [(key: String, value: String)] = [], renewalParams: [(key: String, value: String)],
                webrootMap: [(domain: String, path: String)] = []) {
        self.version = version
        self.archiveDir = archiveDir
        self.cert = cert
        self.privkey = privkey
        self.chain = chain
        self.fullchain = fullchain
        self.topLevel = topLevel
        self.renewalParams = renewalParams
        self.webrootMap = webrootMap
    }

    public subscript(param key: String) -> String? {
        renewalParams.first { $0.key == key }?.value
    }

    /// A top-level value such as `renew_before_expiry`.
    public func topLevelValue(_ key: String) -> String? {
        topLevel.first { $0.key == key }?.value
    }

    public static func parse(_ text: String) throws -> RenewalConfig {
        var top: [(String, String)] = []
        var params: [(String, String)] = []
        var webroot: [(String, String)] = []
        var section = ""
        // Works on UTF-8 bytes: `acme renew` reads one of these per lineage, a thousand per run.
        let bytes = Array(text.utf8)
        var number = 0
        for raw in bytes.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false) {
            number += 1
            let line = Self.trim(raw)
            guard let first = line.first, first != UInt8(ascii: "#") else { continue }
            if first == UInt8(ascii: "[") {
                let name = String(decoding: line.filter { $0 != UInt8(ascii: "[") && $0 != UInt8(ascii: "]") }, as: UTF8.self)
                    .trimmed
                if line.starts(with: [UInt8(ascii: "["), UInt8(ascii: "[")]) {
                    guard section == "renewalparams" || section.hasPrefix("renewalparams/") else {
                        throw CertStoreError(.malformedConfig, "renewal config line \(number): a subsection outside [renewalparams]")
                    }
                    section = "renewalparams/" + String(name)
                } else {
                    section = String(name)
                }
                continue
            }
            guard let equals = line.firstIndex(of: UInt8(ascii: "=")) else {
                // Never the line itself: the file may be a link to something secret.
                throw CertStoreError(.malformedConfig, "renewal config line \(number) (\(line.count) bytes) is not \"key = value\"; is this a certbot renewal conf?")
            }
            let key = String(decoding: Self.unquote(Self.trim(line[..<equals])), as: UTF8.self)
            let value = String(decoding: Self.unquote(Self.trim(line[(equals + 1)...])), as: UTF8.self)
            switch section {
            case "": top.append((key, value))
            case "renewalparams": params.append((key, value))
            case "renewalparams/webroot_map": webroot.append((key, value))
            default: continue  // other sections are not ours to interpret
            }
        }
        func take(_ key: String) throws -> String {
            guard let index = top.firstIndex(where: { $0.0 == key }) else {
                throw CertStoreError(.malformedConfig, "renewal config lacks \"\(key)\"")
            }
            return top.remove(at: index).1
        }
        let version = top.firstIndex { $0.0 == "version" }.map { top.remove(at: $0).1 }
        return RenewalConfig(version: version, archiveDir: try take("archive_dir"), cert: try take("cert"),
                             privkey: try take("privkey"), chain: try take("chain"), fullchain: try take("fullchain"),
                             topLevel: top.map { (key: $0.0, value: $0.1) },
                             renewalParams: params.map { (key: $0.0, value: $0.1) },
                             webrootMap: webroot.map { (domain: $0.0, path: $0.1) })
    }

    /// The file text, laid out as certbot writes it.
    public func serialized() -> String {
        var lines: [String] = []
        if topLevelValue("renew_before_expiry") == nil { lines.append("# renew_before_expiry = 30 days") }
        if let version { lines.append("version = \(version)") }
        lines += ["archive_dir = \(archiveDir)", "cert = \(cert)", "privkey = \(privkey)", "chain = \(chain)", "fullchain = \(fullchain)"]
        lines += topLevel.map { "\($0.key) = \(Self.quoted($0.value))" }
        lines += ["", "# Options used in the renewal process", "[renewalparams]"]
        lines += renewalParams.map { "\($0.key) = \(Self.quoted($0.value))" }
        if !webrootMap.isEmpty {
            lines.append("[[webroot_map]]")
            lines += webrootMap.map { "\($0.domain) = \(Self.quoted($0.path))" }
        }
        return lines.joined(separator: "\n") + "\n"
    }

    static func trim(_ bytes: ArraySlice<UInt8>) -> ArraySlice<UInt8> {
        let blank: (UInt8) -> Bool = { $0 == 32 || $0 == 9 || $0 == 13 }
        guard let start = bytes.firstIndex(where: { !blank($0) }), let end = bytes.lastIndex(where: { !blank($0) }) else { return [] }
        return bytes[start...end]
    }

    /// Strips matching quotes (`"…"`, `'…'`, or configobj's triple quotes), or an inline
    /// comment after an unquoted value. An unquoted value with a comma is a configobj list:
    /// it is kept in the one list spelling acme writes, with a trailing comma (`a, b,`).
    static func unquote(_ bytes: ArraySlice<UInt8>) -> ArraySlice<UInt8> {
        for quote: UInt8 in [34, 39] {
            let triple = [quote, quote, quote]
            if bytes.count >= 6, bytes.starts(with: triple), bytes.reversed().starts(with: triple) {
                return bytes.dropFirst(3).dropLast(3)
            }
            if bytes.count >= 2, bytes.first == quote, bytes.last == quote { return bytes.dropFirst().dropLast() }
        }
        var value = bytes
        if let hash = value.firstIndex(of: UInt8(ascii: "#")) { value = trim(value[..<hash]) }
        if value.contains(UInt8(ascii: ",")), value.last != UInt8(ascii: ",") { return ArraySlice(value + [UInt8(ascii: ",")]) }
        return value
    }

    /// What configobj (and so certbot) reads back as the same value, quoted as configobj's own
    /// writer does: a list (`a, b,`) raw; a value with both quote kinds in triple quotes; one
    /// with a comma, or a space or quote at either end, in the quotes it does not contain; one
    /// with `#` quoted too; anything else raw.
    static func quoted(_ value: String) -> String {
        guard let first = value.first, let last = value.last else { return "\"\"" }
        let quotes = (single: value.contains("'"), double: value.contains("\""))
        if value.hasSuffix(","), !value.contains("#"), !quotes.single, !quotes.double { return value }
        if quotes.single, quotes.double { return "'''\(value)'''" }
        let edge: (Character) -> Bool = { " \t\r\n\u{0B}'\"".contains($0) }
        if !edge(first), !edge(last), !value.contains(","), !value.contains("#") { return value }
        return quotes.double ? "'\(value)'" : "\"\(value)\""
    }
}
