import Base
import Foundation
@testable import ACMECrypto

/// An error from a second call on an input (a property read after a successful parse) that is
/// not one of the project's: reported as a failure, naming the call.
struct UnexpectedError: Error, CustomStringConvertible {
    var call: String
    var underlying: any Error
    var description: String { "\(call) threw \(type(of: underlying)): \(underlying)" }
}

/// Runs a follow-up call; only an error outside `allowed` escapes (wrapped, so that it fails).
func secondary(_ call: String, _ allowed: (any Error) -> Bool, _ body: () throws -> Void) throws {
    do { try body() } catch { if !allowed(error) { throw UnexpectedError(call: call, underlying: error) } }
}

/// Which errors count as a clean refusal.
enum Allowed {
    @Sendable static func crypto(_ error: any Error) -> Bool { error is CryptoError }
    @Sendable static func project(_ error: any Error) -> Bool { error is any CodedError || error is DecodingError }
}

enum CryptoTargets {
    static var crypto: Corpus.Crypto { Corpus.crypto }

    /// Inputs for PEM certificate parsers: text mutations of real chains (markers, base64,
    /// lines), DER mutations re-encoded as valid PEM, chains of mutated and valid blocks.
    static let pemTextMutator = Mutator(seeds: crypto.chainPEMs.map(\.bytes) + [crypto.keyPEMs[0].bytes], tokens: Corpus.pemTokens)
    static let strayTextMutator = Mutator(seeds: [], tokens: Corpus.pemTokens, maxLength: 100)

    static func certificatePEMInput(_ rng: inout SplitMix64) -> [UInt8] {
        let c = crypto
        switch rng.below(10) {
        case 0..<5:
            return pemTextMutator.input(&rng)
        case 5..<8:
            return Corpus.mutatedPEM(der: rng.pick(c.ders), label: "CERTIFICATE", &rng)
        default:
            // A chain: some valid blocks, some mutated, stray text between them.
            var text: [UInt8] = []
            for _ in 0..<rng.skewed(6) {
                if rng.chance(50) { text += rng.pick(c.certificatePEMs).bytes }
                else { text += Corpus.mutatedPEM(der: rng.pick(c.ders), label: "CERTIFICATE", &rng) }
                if rng.chance(30) { text += strayTextMutator.input(&rng) }
            }
            return text
        }
    }

    /// DER inputs: mutated certificates (lengths, tags, times, extensions), random bytes, and
    /// hand-made TLV nests.
    static func derInput(_ rng: inout SplitMix64) -> [UInt8] {
        switch rng.below(10) {
        case 0..<8:
            return Corpus.derMutator.input(&rng)
        case 8:
            // Nested SEQUENCEs with random lengths (long forms included).
            var out: [UInt8] = []
            for _ in 0..<rng.skewed(64) {
                out += [rng.pick([0x30, 0xA0, 0xA3, 0x02, 0x04, 0x06, 0x17, 0x18, 0x80])]
                switch rng.below(4) {
                case 0: out += [UInt8(rng.below(128))]
                case 1: out += [0x81, rng.byte()]
                case 2: out += [0x82, rng.byte(), rng.byte()]
                default: out += [0x84, rng.byte(), rng.byte(), rng.byte(), rng.byte()]
                }
            }
            return out + rng.bytes(rng.skewed(256))
        default:
            return rng.bytes(rng.skewed(4096))
        }
    }

    /// Touches what callers read from a parsed certificate.
    static func use(_ certificate: Certificate) {
        _ = certificate.label
        _ = certificate.isCA
        _ = certificate.renewalInfoID
        _ = certificate.serialDERContent
        _ = certificate.covers(name: Corpus.fqdn)
        _ = certificate.covers(name: "x.imap.example.com")
        _ = certificate.isSigned(by: crypto.ca)
        _ = certificate.matches(crypto.ec384)
        if certificate.der.count < 8192 { _ = certificate.pem }
        _ = certificate.isExpired()
    }

    static let certificatePEM = FuzzTarget(
        name: "certificatePEM", iterations: 1200,
        generate: { certificatePEMInput(&$0) },
        execute: { input in
            let text = input.text
            try secondary("Certificate(pem:)", Allowed.crypto) { use(try Certificate(pem: text)) }
            try Certificate.chain(pem: text).forEach(use)
        },
        allowed: Allowed.crypto,
        large: [
            ("50 certificates in one chain", { Array(repeating: crypto.certificatePEMs[1], count: 50).joined().bytes }),
            ("2 MiB base64 in one block", { ("-----BEGIN CERTIFICATE-----\n" + String(repeating: "QUFB", count: 1 << 19) + "\n-----END CERTIFICATE-----\n").bytes }),
            ("2 MB of BEGIN markers", { String(repeating: "-----BEGIN CERTIFICATE-----", count: 75_000).bytes }),
            ("2 MiB line without markers", { Array(repeating: UInt8(ascii: "A"), count: 2 << 20) }),
        ])

    static let certificateDER = FuzzTarget(
        name: "certificateDER", iterations: 4000,
        generate: { derInput(&$0) },
        execute: { input in use(try Certificate(der: input)) },
        allowed: Allowed.crypto,
        large: [
            ("4 MiB zeros", { Array(repeating: 0, count: 4 << 20) }),
            ("4 MiB SEQUENCE claiming 4 GiB", { [0x30, 0x84, 0xFF, 0xFF, 0xFF, 0xFF] + Array(repeating: 0x30, count: 4 << 20) }),
            ("certificate padded with 4 MiB", { crypto.leaf.der + Array(repeating: 0x41, count: 4 << 20) }),
        ])

    /// CertificateSummary (the renewal path's own DER walker) on DER and PEM inputs; when
    /// OpenSSL reads the same certificate, both must agree on what renewal decides from.
    static let certificateSummary = FuzzTarget(
        name: "certificateSummary", iterations: 4000,
        generate: { rng in rng.chance(70) ? derInput(&rng) : certificatePEMInput(&rng) },
        execute: { input in
            try secondary("CertificateSummary(pem:)", Allowed.crypto) { _ = try CertificateSummary(pem: input.text).renewalInfoID }
            let summary = try CertificateSummary(der: input)
            _ = summary.serialHex
            _ = summary.renewalInfoID
            if let full = try? Certificate(der: input) { SummaryDifferences.compare(summary, full, input) }
        },
        allowed: Allowed.crypto,
        large: [
            ("1 MiB nested SEQUENCEs", { repeated([0x30, 0x80], 1 << 19) }),
            ("4 MiB extension list", {
                var tbs: [UInt8] = []
                let ext: [UInt8] = [0x30, 0x09, 0x06, 0x03, 0x55, 0x1D, 0x23, 0x04, 0x02, 0x30, 0x00]
                let count = (4 << 20) / ext.count
                let body = repeated(ext, count)
                tbs = [0x30, 0x84] + withUnsafeBytes(of: UInt32(body.count).bigEndian, Array.init) + body
                return [0x30, 0x84, 0x00, 0x00, 0x00, 0x00] + tbs
            }),
        ])

    static let privateKeyPEM = FuzzTarget(
        name: "privateKeyPEM", iterations: 1500,
        generate: { rng in
            let pems = crypto.keyPEMs
            switch rng.below(10) {
            case 0..<4:
                return keyTextMutator.input(&rng)
            case 4..<8:
                let (der, label) = rng.pick(keyDERs)
                return Corpus.mutatedPEM(der: der, label: rng.chance(90) ? label : rng.pick(["PRIVATE KEY", "EC PRIVATE KEY", "RSA PRIVATE KEY", "CERTIFICATE"]), &rng)
            case 8:
                // Encrypted-looking headers in front of a real key.
                return ("-----BEGIN RSA PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\nDEK-Info: AES-128-CBC,\(rng.bytes(16).map { String(format: "%02X", $0) }.joined())\n\n"
                        + Corpus.der(pems[2]).prefix(rng.skewed(1200)).map { String(format: "%c", 65 + Int($0 % 26)) }.joined() + "\n-----END RSA PRIVATE KEY-----\n").bytes
            default:
                return rng.bytes(rng.skewed(4096))
            }
        },
        execute: { input in
            let key = try PrivateKey(pem: input.text)
            _ = key.publicJWK.thumbprint
            _ = key.jwsAlgorithm
            try secondary("publicKeyDER", Allowed.crypto) { _ = try key.publicKeyDER() }
        },
        allowed: Allowed.crypto,
        large: [
            ("4 MB base64 key", { ("-----BEGIN PRIVATE KEY-----\n" + String(repeating: "QUFB\n", count: 800_000) + "-----END PRIVATE KEY-----\n").bytes }),
            ("key after 4 MiB of text", { (String(repeating: "x", count: 4 << 20) + "\n" + crypto.keyPEMs[0]).bytes }),
        ])

    static let keyTextMutator = Mutator(seeds: (crypto.keyPEMs + traditionalPEMs + [crypto.publicKeyPEM, crypto.certificatePEMs[1]]).map(\.bytes), tokens: Corpus.pemTokens)
    static let keyDERs: [([UInt8], String)] = crypto.keyPEMs.map { (Corpus.der($0), "PRIVATE KEY") }
        + traditionalPEMs.map { (Corpus.der($0), $0.contains("EC PRIVATE") ? "EC PRIVATE KEY" : "RSA PRIVATE KEY") }

    /// The EC and RSA keys in their traditional forms ("EC PRIVATE KEY", "RSA PRIVATE KEY"):
    /// the PKCS#8 wrapper's inner key, re-labelled.
    static let traditionalPEMs: [String] = {
        crypto.keyPEMs.compactMap { pem in
            let der = Corpus.der(pem)
            var outer = DER(der)
            guard var info = outer.enter(0x30) else { return nil }
            _ = info.next()  // version
            _ = info.next()  // algorithm
            guard let inner = info.next(), inner.tag == 0x04 else { return nil }
            return Corpus.pem(pem == crypto.keyPEMs[2] ? "RSA PRIVATE KEY" : "EC PRIVATE KEY", Array(der[inner.content]))
        }
    }()

    // MARK: JWK

    static let jwkMembers = ["kty", "crv", "x", "y", "d", "n", "e", "p", "q", "dp", "dq", "qi"]
    static let jwkValueMutator = Mutator(seeds: crypto.jwks.flatMap(\.values).map(\.bytes), tokens: ["=", "+", "/", "-", "_", "A", "AA", "AAA"], maxLength: 16 * 1024)
    static let jwkTextMutator = Mutator(seeds: crypto.jwks.map { Array(try! JSONEncoder().encode($0)) }, tokens: Corpus.jsonTokens, maxLength: 64 * 1024, json: true)

    /// A private JWK as certbot stores it, with members removed, swapped, mixed from other keys,
    /// mutated (base64url and not), oversized or zero.
    static func jwkInput(_ rng: inout SplitMix64) -> [String: String] {
        let jwks = crypto.jwks
        var jwk = rng.pick(jwks)
        for _ in 0..<rng.skewed(4) {
            let member = rng.chance(80) ? rng.pick(jwkMembers) : Mutator.randomText(&rng, alphabet: ["k", "t", "y", "d", "n", "_", "\u{0}", "é"], maxLength: 8)
            switch rng.below(11) {
            case 0: jwk[member] = nil
            case 1: jwk[member] = rng.pick(jwks)[member]
            case 2:
                var bytes = (jwk[member] ?? "").bytes
                for _ in 0..<rng.skewed(4) { jwkValueMutator.mutate(&bytes, &rng) }
                jwk[member] = bytes.text
            case 3: jwk[member] = Base64URL.encode(rng.bytes(rng.skewed(1024)))
            case 4: jwk[member] = rng.pick(["AA", "AAAA", "", "=", "_w", "AQAB", Base64URL.encode([UInt8](repeating: 0xFF, count: 48)),
                                            Base64URL.encode([UInt8](repeating: 0, count: 32)), Base64URL.encode([1])])
            case 5: jwk["kty"] = rng.pick(["EC", "RSA", "oct", "OKP", "ec", "", "RSA ", "EC\u{0}"])
            case 6: jwk["crv"] = rng.pick(["P-256", "P-384", "P-521", "secp256k1", "Ed25519", "", "p-256"])
            case 7:
                let a = rng.pick(jwkMembers), b = rng.pick(jwkMembers)
                (jwk[a], jwk[b]) = (jwk[b], jwk[a])
            case 8:
                // An oversized number: a large modulus or private exponent (beyond ~1 KiB, RSA
                // members are KnownFindings.hugeRSAModulus: execute steps around them).
                jwk[member] = Base64URL.encode([0xC3] + rng.bytes(rng.skewed(rng.chance(90) ? 1024 : 4096)))
            case 9:
                // The member of the same name from the key with the other size.
                if let value = jwks.first(where: { $0["kty"] == jwk["kty"] && $0 != jwk })?[member] { jwk[member] = value }
            default:
                jwk[member] = Mutator.randomText(&rng, alphabet: ["A", "z", "0", "-", "_", "+", "/", "=", " ", "\n", "é", "\u{0}"], maxLength: 200)
            }
        }
        return jwk
    }

    static let privateKeyJWK = FuzzTarget(
        name: "privateKeyJWK", iterations: 1000,
        generate: { rng in
            if rng.chance(10) {
                // Raw JSON text, as private_key.json holds it: mutated, then decoded as the account store does.
                return jwkTextMutator.input(&rng)
            }
            return Array(try! JSONEncoder().encode(jwkInput(&rng)))
        },
        execute: { input in
            let jwk = try JSONDecoder().decode([String: String].self, from: Data(input))
            let key = try PrivateKey(jwk: jwk)
            _ = key.publicJWK.thumbprint
            try secondary("privateJWK", Allowed.crypto) {
                // What was read is written back the same way (certbot's private_key.json).
                _ = try PrivateKey(jwk: try key.privateJWK())
            }
            try secondary("sign", Allowed.crypto) { _ = try key.sign(Array("fuzz".utf8)) }
        },
        allowed: Allowed.project,
        large: [
            ("EC d of 1 MiB", {
                var jwk = crypto.jwks[0]
                jwk["d"] = Base64URL.encode([UInt8](repeating: 0x5A, count: 1 << 20))
                return Array(try! JSONEncoder().encode(jwk))
            }),
        ])
}

/// Where CertificateSummary and OpenSSL read the same bytes differently. Reported, not failed:
/// OpenSSL accepts some encodings the summary walker is not meant to (see the report).
enum SummaryDifferences {
    nonisolated(unsafe) static var count = 0

    static func compare(_ summary: CertificateSummary, _ full: Certificate, _ input: [UInt8]) {
        var differences: [String] = []
        if summary.notBefore != full.notBefore { differences.append("notBefore \(summary.notBefore) vs \(full.notBefore)") }
        if summary.notAfter != full.notAfter { differences.append("notAfter \(summary.notAfter) vs \(full.notAfter)") }
        if summary.serialHex != full.serialHex { differences.append("serial \(summary.serialHex) vs \(full.serialHex)") }
        if summary.authorityKeyIdentifier != full.authorityKeyIdentifier { differences.append("AKI differs") }
        guard !differences.isEmpty else { return }
        count += 1
        if count <= 3 {
            let file = Artifacts.save(input, target: "certificateSummary", seed: FuzzConfig.current.seed, index: count, kind: "differs")
            Log.line("note certificateSummary: CertificateSummary and OpenSSL disagree (\(differences.joined(separator: ", "))) on \(input.count) bytes saved to \(file ?? "(not saved)")")
        }
    }
}
