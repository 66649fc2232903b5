import ACMECrypto
import Base
import CertStore
import FoundationEssentials

/// Traefik's `acme.json`: v2+ (`{"<resolver>": {"Certificates": [{"domain": {"main", "sans"}, "certificate", "key"}]}}`)
/// and v1 (`{"Certificates": [{"Domain": {"Main", "SANs"}, "Certificate", "Key"}]}`), base64 PEM inside.
struct TraefikStore {
    var path: String

    struct Entry {
        var main: String
        var sans: [String]
        var certificateBase64: String
        var keyBase64: String
        var label: String

        /// A cheap pre-filter on the names Traefik recorded; the certificate itself decides later.
        func covers(_ fqdn: String) -> Bool {
            ([main] + sans).contains { Certificate.name(fqdn, matches: $0.lowercased()) }
        }

        func candidate() throws -> CertificateFinder.Candidate {
            guard let cert = Base64URL.decode(certificateBase64), let key = Base64URL.decode(keyBase64) else {
                throw ProvisionError(.refused, "\(label): certificate or key is not base64")
            }
            let pair = try KeyPair(keyPEM: String(decoding: key, as: UTF8.self), chainPEM: String(decoding: cert, as: UTF8.self),
                                   keySource: label + " key", certSource: label)
            return .init(pair: pair, origin: label)
        }
    }

    func entries() throws -> [Entry] {
        let text: String
        do { text = try FS.read(path) } catch { throw ProvisionError(.refused, "\(error)") }
        let root: JSONTree
        do {
            root = try JSONDecoder().decode(JSONTree.self, from: Data(text.utf8))
        } catch {
            throw ProvisionError(.refused, "\(path): not valid JSON (\(Self.reason(error))); is this Traefik's acme.json?")
        }
        guard case .object(let top) = root else { throw ProvisionError(.refused, "\(path): expected a JSON object at the top level") }
        if top["Certificates"] != nil {  // v1
            return Self.certificates(top["Certificates"], file: path, resolver: nil, v1: true)
        }
        var result: [Entry] = []
        for (resolver, value) in top.sorted(by: { $0.key < $1.key }) {
            guard case .object(let body) = value else { continue }
            result += Self.certificates(body["Certificates"], file: path, resolver: resolver, v1: false)
        }
        return result
    }

    private static func certificates(_ value: JSONTree?, file: String, resolver: String?, v1: Bool) -> [Entry] {
        guard case .array(let list)? = value else { return [] }
        return list.enumerated().compactMap { index, item -> Entry? in
            guard case .object(let object) = item,
                  case .object(let domain)? = object[v1 ? "Domain" : "domain"],
                  case .string(let main)? = domain[v1 ? "Main" : "main"],
                  case .string(let cert)? = object[v1 ? "Certificate" : "certificate"],
                  case .string(let key)? = object[v1 ? "Key" : "key"] else { return nil }
            var sans: [String] = []
            if case .array(let values)? = domain[v1 ? "SANs" : "sans"] {
                sans = values.compactMap { if case .string(let s) = $0 { s } else { nil } }
            }
            let where_ = resolver.map { "resolver \($0), " } ?? ""
            return Entry(main: main, sans: sans, certificateBase64: cert, keyBase64: key,
                         label: "\(file) (\(where_)entry \(index + 1), \(main))")
        }
    }

    static func reason(_ error: any Error) -> String {
        if case DecodingError.dataCorrupted(let context) = error { return context.debugDescription }
        return "\(error)"
    }
}

/// Caddy's certificate storage: `<data>/certificates/<issuer>/<name>/<name>.crt` and `.key`.
struct CaddyStore {
    var dataDir: String

    func entries() throws -> [() throws -> CertificateFinder.Candidate?] {
        let root = dataDir + "/certificates"
        guard FS.isDirectory(root) else {
            throw ProvisionError(.refused, "\(root) does not exist; \(SettingName.caddyData) must be the one holding certificates/")
        }
        var result: [() throws -> CertificateFinder.Candidate?] = []
        for issuer in try FS.list(root) where FS.isDirectory(root + "/" + issuer) {
            for name in try FS.list(root + "/" + issuer) {
                let base = root + "/" + issuer + "/" + name + "/" + name
                guard FS.exists(base + ".crt"), FS.exists(base + ".key") else { continue }
                result.append {
                    .init(pair: try KeyPair.load(keyPath: base + ".key", certPath: base + ".crt"), origin: "Caddy \(base).crt")
                }
            }
        }
        return result
    }
}

/// Just enough JSON to walk a document of unknown shape.
indirect enum JSONTree: Decodable {
    case object([String: JSONTree]), array([JSONTree]), string(String), number(Double), bool(Bool), null

    init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        // Each JSON type in turn: a failed attempt only means "not this type".
        if container.decodeNil() { self = .null }
        else if let value = try? container.decode(Bool.self) { self = .bool(value) }
        else if let value = try? container.decode(Double.self) { self = .number(value) }
        else if let value = try? container.decode(String.self) { self = .string(value) }
        else if let value = try? container.decode([JSONTree].self) { self = .array(value) }
        else { self = .object(try container.decode([String: JSONTree].self)) }
    }
}
