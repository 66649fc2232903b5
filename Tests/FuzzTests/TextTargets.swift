import ACMECrypto
import Base
import Foundation
@testable import ACME
@testable import Challenges
@testable import Check
@testable import DNS
@testable import Issuance
@testable import Provision
@testable import Renewal

enum TextTargets {
    static let nameAlphabet = [
        "a", "z", "m", "0", "9", "-", ".", "..", "*", "*.", "_", ":", "/", "[", "]", "@", " ", "\t", "\n", "\u{0}", ",",
        "é", "ß", "İ", "ﬀ", "\u{0301}", "\u{200B}", "\u{FF0E}", "。", "١", "😀", "xn--", "A", "Z", "%", "\\",
    ]

    static let names = [
        "mail.example.com", "*.example.com", "MAIL.Example.COM.", "a-b.c-d.example", "xn--bcher-kva.example", "localhost",
        "1.2.3.4", "::1", "example..com", ".example.com", "-a.example.com", String(repeating: "a", count: 63) + ".com",
    ]

    /// Random strings from characters that matter to names, and mutations of real names.
    static func nameInput(_ rng: inout SplitMix64, seeds: [String] = names) -> [UInt8] {
        switch rng.below(10) {
        case 0..<5: return Mutator.randomText(&rng, alphabet: nameAlphabet, maxLength: rng.chance(10) ? 2000 : 80).bytes
        case 5..<9: return (seeds == names ? nameMutator : endpointMutator).input(&rng)
        default:
            // Labels of lengths around the limits (63 per label, 253 in all).
            let labels = (0..<rng.skewed(10)).map { _ in String(repeating: rng.pick(["a", "0", "-", "é"]), count: rng.pick([0, 1, 62, 63, 64, 127, 254])) }
            return labels.joined(separator: ".").bytes
        }
    }

    static let domainName = FuzzTarget(
        name: "domainName", iterations: 15000,
        generate: { nameInput(&$0) },
        execute: { input in
            let text = input.text
            try secondary("normalize(all:)", { $0 is IssuanceError }) { _ = try DomainName.normalize(all: [text, "mail.example.com," + text]) }
            let name = try DomainName.normalize(text)
            // A normalised name is a fixed point.
            if try DomainName.normalize(name) != name { RoundTrip.note("domainName", "normalize is not idempotent", input) }
        },
        allowed: { $0 is IssuanceError },
        large: [
            ("1 MiB of dots", { Array(repeating: UInt8(ascii: "."), count: 1 << 20) }),
            ("2 MiB label", { Array(repeating: UInt8(ascii: "a"), count: 2 << 20) }),
            ("1 000 000 commas", { Array(repeating: UInt8(ascii: ","), count: 1_000_000) }),
        ])

    static let nameMutator = Mutator(seeds: names.map(\.bytes), tokens: nameAlphabet, maxLength: 8192)
    static let endpointMutator = Mutator(seeds: endpointSeeds.map(\.bytes), tokens: nameAlphabet, maxLength: 8192)
    static let miscMutator = Mutator(seeds: [
        "30 days", "1 day, 6 hours", "14d", "36h", "2w", "2.3.19.1 (9b53102964)", "2.4.0", "127.0.0.1:53", "[::1]:5353",
        "ec256", "rsa4096", "2026-03-01T00:00:00Z", "2026-03-01T00:00:00.123456789Z", "smtpd_tls_cert_file = /etc/x\n  continued\n# c\nmyhostname=mail",
        "evaGxfADs6pSRb2LAv9IZf17Dt3juxGJ-PCt92wr-oA",
    ].map(\.bytes), tokens: ["days", "hours", "week", ",", ".", ":", "[", "]", "T", "Z", "+", "\n ", "="], maxLength: 16 * 1024)
    /// 64 answers made once from a fixed seed: NXDOMAIN, SERVFAIL, CNAMEs, compressed and
    /// uncompressed owners, one to four records of one to three strings.
    static let dnsSeeds: [[UInt8]] = {
        var rng = SplitMix64(seed: 53)
        return (0..<64).map { _ in dnsAnswer(&rng) }
    }()
    static let dnsMutator = Mutator(seeds: dnsSeeds, tokens: ["\u{C0}\u{0C}", "\u{C0}\u{FF}", "\u{3F}", "\u{FF}\u{FF}", "\u{0}\u{10}\u{0}\u{1}"], maxLength: 4096)

    static let endpointSeeds = [
        "smtp://mail.example.com", "submission://mail.example.com:587", "smtps://[2001:db8::1]:465", "imap://MAIL.example.com:143/path",
        "imaps://127.0.0.1:993", "pop3://mail.example.com:110", "pop3s://[::1]", "https://mail.example.com:443/",
    ]

    static let endpoint = FuzzTarget(
        name: "endpoint", iterations: 15000,
        generate: { rng in
            if rng.chance(30) {
                return (rng.pick(Array(Endpoint.schemes.keys) + ["SMTP", "ftp", "", "smtp:", "smtp:/"]) + "://" + Mutator.randomText(&rng, alphabet: nameAlphabet + ["::", "]:", ":0", ":65536", ":-1", ":99999999999999999999"], maxLength: 60)).bytes
            }
            return nameInput(&rng, seeds: endpointSeeds)
        },
        execute: { input in
            let endpoint = try Endpoint(parsing: input.text)
            _ = endpoint.description
        },
        allowed: { $0 is CheckError },
        large: [
            ("2 MiB host", { ("smtp://" + String(repeating: "a", count: 2 << 20)).bytes }),
            ("2 MiB of [", { ("smtps://" + String(repeating: "[", count: 2 << 20)).bytes }),
        ])

    /// The small readers of flag values and command output, each input through all of them.
    static let misc = FuzzTarget(
        name: "smallParsers", iterations: 3000,
        generate: { miscMutator.input(&$0) },
        execute: { input in
            let text = input.text
            _ = DuePolicy.parseInterval(text)
            _ = EndpointCheck.seconds(text)
            _ = DovecotVersion(versionOutput: text)
            _ = PostfixConfig.parseMainCF(text)
            _ = KeyType(parsing: text)
            _ = RenewalInfo.parseDate(text)
            _ = Base64URL.decode(text)
            _ = isValidChallengeToken(text)
            try secondary("TXTLookup(resolver:)", { $0 is DNSError }) { _ = try TXTLookup(resolver: text) }
        },
        allowed: Allowed.project,
        large: [
            ("512 KB of \"1 day \"", { String(repeating: "1 day ", count: 87_000).bytes }),
            ("512 KB main.cf", { String(repeating: "a = b\n c\n", count: 57_000).bytes }),
        ])

    // MARK: DNS answers

    static func dnsAnswer(_ rng: inout SplitMix64) -> [UInt8] {
        var name: [UInt8] = []
        for label in ["_acme-challenge", "mail", "example", "com"] { name += [UInt8(label.utf8.count)] + label.bytes }
        name.append(0)
        let answers = rng.skewed(4)
        let rcode: UInt8 = rng.pick([0x80, 0x80, 0x83, 0x82])
        var message: [UInt8] = [0x12, 0x34, 0x81, rcode, 0, 1, 0, UInt8(answers), 0, 0, 0, 0]
        message += name
        message += [0, 16, 0, 1]
        for _ in 0..<answers {
            var data: [UInt8] = []
            for _ in 0..<rng.skewed(3) {
                let text = Array(Base64URL.encode(rng.bytes(rng.skewed(200))).utf8.prefix(255))
                data.append(UInt8(text.count))
                data += text
            }
            let type: UInt8 = rng.chance(85) ? 16 : 5
            let owner: [UInt8] = rng.chance(70) ? [0xC0, 12] : name
            let fixed: [UInt8] = [0, type, 0, 1, 0, 0, 0, 60, UInt8(data.count >> 8), UInt8(data.count & 0xFF)]
            message += owner
            message += fixed
            message += data
        }
        return message
    }

    static let dnsTXT = FuzzTarget(
        name: "dnsTXT", iterations: 30000,
        generate: { rng in
            var message: [UInt8]
            if rng.chance(85) {
                message = dnsMutator.input(&rng)
            } else {
                message = rng.bytes(rng.skewed(1024))
            }
            // txt() reads at most 4096 bytes and passes only answers of at least 12 (and its own id).
            if message.count < 12 { message += [UInt8](repeating: 0, count: 12 - message.count) }
            return Array(message.prefix(4096))
        },
        execute: { input in _ = try TXTLookup.parseTXT(input, name: "_acme-challenge.mail.example.com") },
        allowed: { $0 is DNSError },
        large: [
            ("4 KiB of 65535 answers claimed", { [0x12, 0x34, 0x81, 0x80, 0xFF, 0xFF, 0xFF, 0xFF, 0, 0, 0, 0] + Array(repeating: 0xC0, count: 4084) }),
            ("1 MiB message (more than txt() reads)", { [0x12, 0x34, 0x81, 0x80, 0, 0, 0xFF, 0xFF, 0, 0, 0, 0] + repeated([0xC0, 0x0C, 0, 16, 0, 1, 0, 0, 0, 1, 0, 1, 0], 80_000) }),
        ])
}
