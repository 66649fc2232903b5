import ACMECrypto
import Base
import Foundation
import Glibc
@testable import Provision

enum ProvisionTargets {
    static let now = Date(timeIntervalSince1970: 1_767_225_600 + 86_400)
    static let workDir: String = {
        let path = NSTemporaryDirectory() + "acme-fuzz-provision-\(getpid())"
        try? FileManager.default.removeItem(atPath: path)
        try? FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }()

    // MARK: Traefik acme.json

    static func base64(_ text: String) -> String { Data(text.utf8).base64EncodedString() }

    static func traefikV2(entries: [(main: String, sans: [String], cert: String, key: String)]) -> String {
        let certificates = entries.map { entry in
            #"{"domain":{"main":\#(json(entry.main)),"sans":[\#(entry.sans.map(json).joined(separator: ","))]},"certificate":\#(json(entry.cert)),"key":\#(json(entry.key)),"Store":"default"}"#
        }
        return #"{"letsencrypt":{"Account":{"Email":"postmaster@example.com","Registration":{"body":{"status":"valid"},"uri":"https://acme.example/acct/1"},"PrivateKey":"MHcCAQEE","KeyType":"4096"},"Certificates":[\#(certificates.joined(separator: ","))]},"other":{"Certificates":null}}"#
    }

    static func traefikV1(entries: [(main: String, sans: [String], cert: String, key: String)]) -> String {
        let certificates = entries.map { entry in
            #"{"Domain":{"Main":\#(json(entry.main)),"SANs":[\#(entry.sans.map(json).joined(separator: ","))]},"Certificate":\#(json(entry.cert)),"Key":\#(json(entry.key))}"#
        }
        return #"{"Account":{"Email":"a@example.com"},"Certificates":[\#(certificates.joined(separator: ","))],"HTTPChallenges":{}}"#
    }

    static func json(_ text: String) -> String { String(decoding: try! JSONEncoder().encode(text), as: UTF8.self) }

    static let validEntries: [(main: String, sans: [String], cert: String, key: String)] = [
        (Corpus.fqdn, ["smtp.example.com"], base64(Corpus.crypto.chainPEMs[0]), base64(Corpus.crypto.keyPEMs[1])),
        (Corpus.fqdn, [], base64(Corpus.crypto.chainPEMs[1]), base64(Corpus.crypto.keyPEMs[2])),
    ]
    static let traefikMutator = Mutator(seeds: [traefikV2(entries: validEntries), traefikV1(entries: validEntries)].map(\.bytes),
                                        tokens: Corpus.jsonTokens + ["\"Certificates\"", "\"domain\"", "\"main\"", "\"sans\"", "\"certificate\"", "\"key\"", "\"Domain\"", "\"Main\""], json: true)
    static let base64Mutator = Mutator(seeds: validEntries.map(\.cert.bytes), tokens: ["=", "-", "_", "+", "/"])

    /// acme.json text: raw mutations, or documents whose embedded PEMs, names and shapes vary.
    static func traefikInput(_ rng: inout SplitMix64) -> [UInt8] {
        switch rng.below(10) {
        case 0..<4:
            return traefikMutator.input(&rng)
        case 4..<9:
            var entries = validEntries
            for index in entries.indices {
                switch rng.below(6) {
                case 0: entries[index].cert = base64(Corpus.mutatedPEM(der: Corpus.crypto.ders[1], label: "CERTIFICATE", &rng).text + Corpus.crypto.certificatePEMs[0])
                case 1: entries[index].key = base64(Corpus.mutatedPEM(Corpus.crypto.keyPEMs[1], label: "PRIVATE KEY", &rng).text)
                case 2: entries[index].cert = base64Mutator.input(&rng).text
                case 3: entries[index].main = rng.pick(["*.example.com", "", "MAIL.EXAMPLE.COM", "mail.example.com.", "*", "é.example.com", "mail.example.com\u{0}"])
                case 4: entries[index].sans = (0..<rng.skewed(50)).map { _ in rng.pick(["mail.example.com", "*.*", "", "*.example.com"]) }
                default: (entries[index].cert, entries[index].key) = (entries[index].key, entries[index].cert)
                }
            }
            if rng.chance(30) { entries.append(contentsOf: Array(repeating: entries[0], count: rng.skewed(20))) }
            return (rng.chance(50) ? traefikV2(entries: entries) : traefikV1(entries: entries)).bytes
        default:
            return RandomJSON.document(&rng).bytes
        }
    }

    static let traefik = FuzzTarget(
        name: "traefik", iterations: 500,
        generate: { traefikInput(&$0) },
        execute: { input in
            let path = workDir + "/acme.json"
            StoreTargets.writeFile(path, input)
            // As CertificateFinder does: every entry that covers the name becomes a candidate, which is checked.
            for entry in try TraefikStore(path: path).entries() where entry.covers(Corpus.fqdn) {
                try secondary("candidate", Allowed.project) {
                    let candidate = try entry.candidate()
                    _ = try candidate.pair.check(fqdn: Corpus.fqdn, now: now, warnDays: 30)
                }
            }
        },
        allowed: { $0 is ProvisionError },
        large: [
            ("200 entries", { traefikV2(entries: Array(repeating: validEntries[0], count: 200)).bytes }),
            ("4 MiB of nested arrays", { #"{"r":{"Certificates":"#.bytes + Array(repeating: UInt8(ascii: "["), count: 4 << 20) }),
            ("4 MiB certificate string", { traefikV2(entries: [(Corpus.fqdn, [], String(repeating: "QUFB", count: 1 << 20), "")]).bytes }),
        ],
        tearDown: { try? FileManager.default.removeItem(atPath: workDir) })

    // MARK: Caddy storage

    static let caddyData = workDir + "/caddy"
    static let caddyBase = caddyData + "/certificates/acme-v02.api.letsencrypt.org-directory/mail.example.com/mail.example.com"

    static let caddy = FuzzTarget(
        name: "caddy", iterations: 600,
        generate: { rng in
            let c = Corpus.crypto
            let certs = [c.chainPEMs[0], c.chainPEMs[1]]
            let keys = [c.keyPEMs[1], c.keyPEMs[2]]
            let pair = rng.below(2)
            var crt: [UInt8]? = certs[pair].bytes, key: [UInt8]? = keys[pair].bytes
            switch rng.below(8) {
            case 0..<3: crt = CryptoTargets.certificatePEMInput(&rng)
            case 3: crt = Corpus.mutatedPEM(der: c.ders[1], label: "CERTIFICATE", &rng)
            case 4..<6: key = CryptoTargets.keyTextMutator.input(&rng)
            case 6: key = Corpus.mutatedPEM(keys[pair], label: "PRIVATE KEY", &rng)
            default: if rng.chance(50) { crt = nil } else { key = nil }
            }
            return Parts.encode([crt, key])
        },
        execute: { input in
            let parts = Parts.decode(input)
            try? FileManager.default.createDirectory(atPath: FS.parentDirectory(caddyBase), withIntermediateDirectories: true)
            StoreTargets.writeFile(caddyBase + ".crt", parts.count > 0 ? parts[0] : nil)
            StoreTargets.writeFile(caddyBase + ".key", parts.count > 1 ? parts[1] : nil)
            for load in try CaddyStore(dataDir: caddyData).entries() {
                if let candidate = try load() {
                    try secondary("check", { $0 is ProvisionError }) {
                        _ = try candidate.pair.check(fqdn: Corpus.fqdn, now: now, warnDays: 30)
                    }
                }
            }
        },
        allowed: { $0 is ProvisionError },
        large: [
            ("300 certificates in one .crt", { Parts.encode([Array(repeating: Corpus.crypto.certificatePEMs[1], count: 300).joined().bytes, Corpus.crypto.keyPEMs[1].bytes]) }),
            ("2 MiB .key", { Parts.encode([Corpus.crypto.certificatePEMs[1].bytes, Array(repeating: UInt8(ascii: "M"), count: 2 << 20)]) }),
        ])
}

/// Random JSON values of any shape: what a corrupt or foreign file might hold.
enum RandomJSON {
    static func document(_ rng: inout SplitMix64) -> String {
        var budget = rng.skewed(2000)
        return value(&rng, depth: 0, budget: &budget)
    }

    static func value(_ rng: inout SplitMix64, depth: Int, budget: inout Int) -> String {
        budget -= 1
        let leaf = depth > 40 || budget <= 0
        switch rng.below(leaf ? 5 : 8) {
        case 0: return "null"
        case 1: return rng.chance(50) ? "true" : "false"
        case 2: return rng.pick(Mutator.interestingNumbers.filter { Double($0) != nil })
        case 3: return string(&rng)
        case 4: return rng.pick(["\"\"", "[]", "{}", "\"\\ud800\"", "\"\\u0000\""])
        case 5:
            var items: [String] = []
            for _ in 0..<rng.skewed(8) { items.append(value(&rng, depth: depth + 1, budget: &budget)) }
            return "[" + items.joined(separator: ",") + "]"
        default:
            var members: [String] = []
            for _ in 0..<rng.skewed(8) {
                let key = rng.chance(60) ? "\"" + rng.pick(keys) + "\"" : string(&rng)
                members.append(key + ":" + value(&rng, depth: depth + 1, budget: &budget))
            }
            return "{" + members.joined(separator: ",") + "}"
        }
    }

    static let keys = [
        "Certificates", "certificate", "key", "domain", "main", "sans", "Domain", "Main", "SANs", "Certificate", "Key", "letsencrypt",
        "status", "type", "detail", "identifier", "value", "subproblems", "url", "token", "challenges", "authorizations", "finalize",
        "identifiers", "error", "wildcard", "expires", "newNonce", "newAccount", "newOrder", "meta", "profiles", "uri", "creation_dt",
        "creation_host", "kty", "crv", "x", "y", "d", "n", "e",
    ]

    static func string(_ rng: inout SplitMix64) -> String {
        let text = Mutator.randomText(&rng, alphabet: ["a", "Z", "0", " ", ".", "*", "-", "é", "😀", "\\n", "\\\"", "\\u0041", "\\ud83d\\ude00", "https://", "urn:ietf:params:acme:error:"], maxLength: 40)
        return "\"" + text + "\""
    }
}
