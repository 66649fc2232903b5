import ACMECrypto
import Base
import Foundation
import Glibc
@testable import CertStore
@testable import Issuance
@testable import Renewal
@testable import DANE
import DNS

enum StoreTargets {
    // MARK: renewal/<name>.conf

    /// Conf text: mutations of certbot's confs, and confs assembled line by line from the keys
    /// acme reads with values that are almost right (numbers out of range, wrong spellings,
    /// quotes, commas, comments, empty values).
    static func confInput(_ rng: inout SplitMix64) -> [UInt8] {
        if rng.chance(60) { return confMutator.input(&rng) }
        var lines = [
            "archive_dir = /etc/letsencrypt/archive/x", "cert = /etc/letsencrypt/live/x/cert.pem",
            "privkey = /etc/letsencrypt/live/x/privkey.pem", "chain = /etc/letsencrypt/live/x/chain.pem",
            "fullchain = /etc/letsencrypt/live/x/fullchain.pem",
        ]
        if rng.chance(30) { lines.removeSubrange(rng.below(lines.count)...) }
        if rng.chance(50) { lines.append("renew_before_expiry = \(rng.pick(intervals))") }
        lines.append(rng.chance(95) ? "[renewalparams]" : rng.pick(["[ renewalparams ]", "[[renewalparams]]", "[renewalparams", "renewalparams]"]))
        for _ in 0..<rng.skewed(16) {
            let key = rng.chance(90) ? rng.pick(RenewalParams.table.map(\.key)) : rng.pick(["config_dir", "installer", "", "=", "key_type "])
            lines.append("\(key) = \(value(for: key, &rng))")
        }
        if rng.chance(30) {
            lines.append(rng.pick(["[[webroot_map]]", "[[ webroot_map ]]", "[[other]]", "[[[webroot_map]]]"]))
            for _ in 0..<rng.skewed(8) {
                lines.append("\(rng.pick(["a.example.com", "*.example.com", "", "A.EXAMPLE.COM", "é.example"])) = \(rng.pick(["/var/www", "", "'/srv'", "\"a, b\""]))")
            }
        }
        if rng.chance(20) { lines.shuffle(using: &rng) }
        var bytes = lines.joined(separator: rng.chance(90) ? "\n" : "\r\n").bytes
        if rng.chance(30) { for _ in 0..<rng.skewed(3) { confMutator.mutate(&bytes, &rng) } }
        return bytes
    }

    static let confMutator = Mutator(seeds: Corpus.renewalConfs.map(\.bytes), tokens: Corpus.confTokens, maxLength: 64 * 1024)
    static let accountMutator = Mutator(seeds: accountSeeds, tokens: Corpus.jsonTokens + ["\"uri\"", "\"creation_dt\"", "\"creation_host\"", "\"kty\""], maxLength: 64 * 1024, json: true)

    static let intervals = ["30 days", "1 day, 6 hours", "2 weeks", "12", "-5 days", "1e308 days", "nan days", "days 30", "30", "", ",,,", "1 fortnight", "9999999999999999999 seconds"]

    static func value(for key: String, _ rng: inout SplitMix64) -> String {
        if rng.chance(15) { return Mutator.randomText(&rng, alphabet: ["a", "0", " ", ",", "#", "'", "\"", "=", "/", "é", "\t"], maxLength: 40) }
        switch key {
        case "http01_port", "tls_alpn_01_port", "rsa_key_size", "acme_dns_propagation_wait":
            return rng.pick(["80", "0", "65535", "65536", "-1", "2048", "3072", "4096", "1024", "8192", "3600", "3601", " 443 ", "0x50", "9999999999999999999999", "443,", "80 # comment"])
        case "reuse_key": return rng.pick(["True", "False", "true", "yes", "on", "1", "0", "maybe", "", "'True'", "True,"])
        case "key_type": return rng.pick(["rsa", "ecdsa", "RSA", "ECDSA", "ed25519", "", "rsa,", "'ecdsa'"])
        case "elliptic_curve": return rng.pick(["secp256r1", "secp384r1", "P-256", "p-384", "secp521r1", "", "prime256v1"])
        case "authenticator": return rng.pick(["standalone", "webroot", "manual", "acme-tls-alpn", "acme-dns-hook", "nginx", "apache", "", "dns-cloudflare", "Webroot"])
        case "pref_challs": return rng.pick(["dns-01,", "http-01,", "dns-01, http-01,", "", ",", "tls-alpn-01", "DNS-01,"])
        case "webroot_path": return rng.pick(["/var/www,", "/a, /b,", "", ",", "/var/www", "'/a, /b'", " , , "])
        default: return rng.pick(["", "x", "/usr/bin/true", "echo 'a, b'", "'''x'''", "\"", "https://acme.example/dir", "a # b", "a, b"])
        }
    }

    static let renewalConfig = FuzzTarget(
        name: "renewalConf", iterations: 1200,
        generate: { confInput(&$0) },
        execute: { input in
            let config = try RenewalConfig.parse(input.text)
            _ = config[param: "authenticator"]
            _ = config.topLevelValue("renew_before_expiry").flatMap(DuePolicy.parseInterval)
            // What acme writes back must read back (lists, quotes).
            try secondary("parse(serialized())", { $0 is CertStoreError }) {
                let again = try RenewalConfig.parse(config.serialized())
                if again.renewalParams.count != config.renewalParams.count { RoundTrip.note("renewalConf", "params \(config.renewalParams.count) → \(again.renewalParams.count)", input) }
            }
        },
        allowed: { $0 is CertStoreError },
        large: [
            ("2 MiB one line", { ("archive_dir = " + String(repeating: "a", count: 2 << 20)).bytes }),
            ("50 000 params", { (Corpus.renewalConfs[0] + String(repeating: "k = v\n", count: 50_000)).bytes }),
            ("2 MiB of [[", { ("[renewalparams]\n" + String(repeating: "[[", count: 1 << 20)).bytes }),
            ("1 000 000 empty lines", { Array(repeating: UInt8(ascii: "\n"), count: 1_000_000) }),
        ])

    static let renewalParams = FuzzTarget(
        name: "renewalParams", iterations: 2000,
        generate: { confInput(&$0) },
        execute: { input in
            let config = try RenewalConfig.parse(input.text)
            let params = try RenewalParams(decoding: config, path: "/etc/letsencrypt/renewal/fuzz.conf", defaultServer: "https://acme-v02.api.letsencrypt.org/directory")
            _ = try RenewalParams.reusesKey(config, path: "fuzz.conf")
            // The encoding of what was read decodes to the same parameters.
            let encoded = params.encoded()
            var written = config
            written.renewalParams = params.merged(into: config.renewalParams)
            written.webrootMap = encoded.webrootMap
            try secondary("decode(encoded())", Allowed.project) {
                let again = try RenewalParams(decoding: written, path: "fuzz.conf", defaultServer: "https://other.example/dir")
                if again != params { RoundTrip.note("renewalParams", "re-decoded parameters differ", input) }
            }
        },
        allowed: { $0 is CertStoreError || $0 is IssuanceError },
        large: [
            ("2 MiB hook", { (Corpus.renewalConfs[0] + "pre_hook = " + String(repeating: "x", count: 2 << 20) + "\n").bytes }),
            ("2 000 webroot_map entries", {
                (Corpus.renewalConfs[1] + (0..<2_000).map { "n\($0).example.com = /var/www/\($0)" }.joined(separator: "\n")).bytes
            }),
        ])

    // MARK: accounts/<server>/<id>/{private_key,regr,meta}.json

    static let server = "https://acme-v02.api.letsencrypt.org/directory"

    /// A config dir of its own per process; each case rewrites one account's three files.
    static let configDir: String = {
        let path = NSTemporaryDirectory() + "acme-fuzz-accounts-\(getpid())"
        try? FileManager.default.removeItem(atPath: path)
        try? FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }()

    static var accountDirectory: String { AccountStore(configDirectory: configDir).serverDirectory(for: server) + "/0123456789abcdef0123456789abcdef" }

    static let accountSeeds: [[UInt8]] = [
        Array(try! JSONEncoder().encode(Corpus.crypto.jwks[0])),
        Array(try! JSONEncoder().encode(Corpus.crypto.jwks[2])),
        #"{"body": {"key": {"kty": "EC", "crv": "P-256", "x": "AAA", "y": "BBB"}, "contact": ["mailto:a@example.com"], "status": "valid"}, "uri": "https://acme-v02.api.letsencrypt.org/acme/acct/123456789", "new_authzr_uri": "https://acme-v02.api.letsencrypt.org/acme/new-authz", "terms_of_service": "https://letsencrypt.org/documents/LE-SA-v1.5-February-24-2025.pdf"}"#.bytes,
        #"{"creation_dt": "2026-01-01T00:00:00Z", "creation_host": "mail.example.com", "register_to_eff": null}"#.bytes,
    ]

    static func writeFile(_ path: String, _ bytes: [UInt8]?) {
        unlink(path)
        guard let bytes else { return }
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        guard fd >= 0 else { return }
        _ = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        close(fd)
    }

    static let accountStore = FuzzTarget(
        name: "accountStore", iterations: 2000,
        generate: { rng in
            // The three files, one or more of them mutated (or missing, or JSON of another shape).
            let keySeeds = Array(accountSeeds[0...1]), regr = accountSeeds[2], meta = accountSeeds[3]
            var files: [[UInt8]?] = [rng.pick(keySeeds), regr, meta]
            let chosen = rng.chance(30) ? [0, 1, 2] : [rng.below(3)]
            for index in chosen {
                switch rng.below(20) {
                case 0: files[index] = nil
                case 1: files[index] = Array(try! JSONEncoder().encode(CryptoTargets.jwkInput(&rng)))
                default:
                    var bytes = files[index]!
                    for _ in 0..<rng.skewed(8) { accountMutator.mutate(&bytes, &rng) }
                    files[index] = bytes
                }
            }
            return Parts.encode(files)
        },
        execute: { input in
            let files = Parts.decode(input)
            let directory = accountDirectory
            try? FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            for (index, name) in ["private_key.json", "regr.json", "meta.json"].enumerated() {
                writeFile(directory + "/" + name, index < files.count ? files[index] : nil)
            }
            let accounts = try AccountStore(configDirectory: configDir).accounts(server: server)
            for account in accounts {
                // As AccountService does with a stored account: its key.
                try secondary("PrivateKey(jwk:)", { $0 is CryptoError }) { _ = try PrivateKey(jwk: account.privateKeyJWK) }
            }
        },
        allowed: { $0 is CertStoreError },
        large: [
            ("16 MiB meta.json (the read limit)", { Parts.encode([accountSeeds[0], accountSeeds[2], #"{"creation_dt": ""#.bytes + Array(repeating: UInt8(ascii: "a"), count: (16 << 20) - 40) + #"", "creation_host": "h"}"#.bytes]) }),
            ("8 MiB regr.json of nested arrays", { Parts.encode([accountSeeds[0], Array(repeating: UInt8(ascii: "["), count: 8 << 20), accountSeeds[3]]) }),
        ],
        tearDown: { try? FileManager.default.removeItem(atPath: configDir) })
}

/// Round trips that did not come back the same: printed as notes (they are not crashes).
enum RoundTrip {
    nonisolated(unsafe) static var counts: [String: Int] = [:]

    static func note(_ target: String, _ what: String, _ input: [UInt8]) {
        counts[target, default: 0] += 1
        if counts[target]! <= 3 {
            Log.line("note \(target): \(what) for input: \(Log.escaped(Array(input.prefix(600))))")
        }
    }
}

/// `archive/<name>/.acme-dane.json` and the `acme_dane_*` keys of a renewal conf: files on disk
/// anyone with write access may have edited. Decoding either is an `IssuanceError` or a value that
/// survives its own round trip, never a crash.
enum DANETargets {
    static let stateSeeds: [[UInt8]] = [
        #"{"version": 1, "entries": []}"#,
        #"{"entries":[{"publishedAt":["_25._tcp.mx.example.com."],"record":{"data":"\#(String(repeating: "ab", count: 32))","matching":1,"selector":1,"usage":3},"role":"current","visibleSince":1800000000}],"version":1}"#,
        #"{"entries":[{"publishedAt":[],"record":{"data":"\#(String(repeating: "0", count: 64))","matching":1,"selector":1,"usage":3},"removeAfter":1800000600,"role":"retiring"},{"publishedAt":["_465._tcp.mx.example.com."],"record":{"data":"\#(String(repeating: "f", count: 64))","matching":1,"selector":1,"usage":3},"role":"next"}],"version":1}"#,
    ].map(\.bytes)
    static let stateMutator = Mutator(seeds: stateSeeds, tokens: Corpus.jsonTokens + ["\"current\"", "\"next\"", "\"retiring\"", "\"usage\"", "\"data\"", "\"publishedAt\"", "\"removeAfter\""], maxLength: 64 * 1024, json: true)

    static let state = FuzzTarget(
        name: "daneState", iterations: 5000,
        generate: { stateMutator.input(&$0) },
        execute: { input in
            let state = try DANEState.decode(input.text, path: "/etc/letsencrypt/archive/x/.acme-dane.json")
            // What was accepted is what acme would write again.
            let encoder = JSONEncoder()
            encoder.dateEncodingStrategy = .secondsSince1970
            let again = try DANEState.decode(String(decoding: try encoder.encode(state), as: UTF8.self), path: "again")
            if again != state { RoundTrip.note("daneState", "re-decoded state differs", input) }
        },
        allowed: { $0 is IssuanceError },
        large: [])

    static let settings = FuzzTarget(
        name: "daneSettings", iterations: 5000,
        generate: { rng in
            var lines = ["acme_dane = \(rng.pick(["True", "True", "True", "true", "False", "", "1", "maybe"]))"]
            if rng.chance(70) { lines += ["acme_dane_owners = _25._tcp.mx.example.com.,", "acme_dane_hook = /bin/true"] }
            for _ in 0..<rng.skewed(8) {
                let key = rng.pick(["acme_dane_usage", "acme_dane_owners", "acme_dane_ttl", "acme_dane_rfc2136_server", "acme_dane_tsig_key", "acme_dane_hook", "acme_dane_resolver"])
                let value = rng.pick(["3", "2", "0", "-1", "86401", "_25._tcp.mx.example.com.,", "_25._tcp.mx.example.com., _465._tcp.a.b.,", "mx.example.com", ",,,", "",
                                      "127.0.0.1:53", "[::1]:5353", "/etc/acme/k.key", "/bin/true", "_25._tcp." + String(repeating: "a", count: 70) + ".com.", "é._tcp.x."])
                lines.append("\(key) = \(value)")
            }
            if rng.chance(20) { lines.shuffle(using: &rng) }
            let top = ["archive_dir = /etc/letsencrypt/archive/x", "cert = /etc/letsencrypt/live/x/cert.pem", "privkey = /etc/letsencrypt/live/x/privkey.pem",
                       "chain = /etc/letsencrypt/live/x/chain.pem", "fullchain = /etc/letsencrypt/live/x/fullchain.pem"]
            return (top + ["[renewalparams]"] + lines).joined(separator: "\n").bytes
        },
        execute: { input in
            let config = try RenewalConfig.parse(input.text)
            guard let settings = try DANESettings(params: config.renewalParams, path: "fuzz.conf") else { return }
            let again = try DANESettings(params: settings.encoded(), path: "again")
            if again != settings { RoundTrip.note("daneSettings", "re-decoded settings differ", input) }
        },
        allowed: { $0 is IssuanceError || $0 is CertStoreError || $0 is DNSError },
        large: [])
}
