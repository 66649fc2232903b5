import ACMECrypto
import Base
import CertStore
import Challenges
import Testing
@testable import Issuance

@Suite("ECDSA + RSA pair: --key-type spelling and acme_key_pair")
struct KeyPairingTests {
    @Test("one key type, or one ECDSA and one RSA in either order, sizes included")
    func parsing() throws {
        #expect(try KeyTypeChoice(parsing: "ecdsa", flag: "--key-type") == .single(.ecdsa(.p256)))
        #expect(try KeyTypeChoice(parsing: "rsa4096", flag: "--key-type") == .single(.rsa(bits: 4096)))
        #expect(try KeyTypeChoice(parsing: "ecdsa,rsa", flag: "--key-type") == .pair(ecdsa: .ecdsa(.p256), rsa: .rsa(bits: 2048)))
        #expect(try KeyTypeChoice(parsing: "rsa3072, ec384", flag: "--key-type") == .pair(ecdsa: .ecdsa(.p384), rsa: .rsa(bits: 3072)))
        #expect(try KeyTypeChoice(parsing: "ECDSA,RSA4096", flag: "--key-type") == .pair(ecdsa: .ecdsa(.p256), rsa: .rsa(bits: 4096)))
        #expect(try KeyTypeChoice(parsing: "ecdsa,rsa", flag: "--key-type").first == .ecdsa(.p256))
        #expect(try KeyTypeChoice(parsing: "ec384,rsa3072", flag: "--key-type").description == "ec384,rsa3072")
    }

    @Test("two of one family, three types, an empty half, an unknown type: usage errors naming the flag", arguments: [
        ("ec256,ec384", "issuance.invalidKeyTypePair", "names two ECDSA key types"),
        ("rsa,rsa4096", "issuance.invalidKeyTypePair", "names two RSA key types"),
        ("ecdsa,rsa,rsa4096", "issuance.invalidKeyTypePair", "one ECDSA and one RSA"),
        ("ecdsa,", "issuance.invalidKeyTypePair", "one ECDSA and one RSA"),
        ("ecdsa,rsa1024", "crypto.invalidKeyType", "rsa1024 is not one of"),
    ])
    func refused(text: String, code: String, words: String) throws {
        do {
            _ = try KeyTypeChoice(parsing: text, flag: "--key-type")
            Issue.record("\(text) was accepted")
        } catch let error as any CodedError {
            #expect(error.codeName == code)
            #expect(error.category == .usage)
            #expect(error.message.contains("--key-type"), "\(error.message)")
            #expect(error.message.contains(words), "\(error.message)")
            #expect(!error.message.contains("\n"))
        }
    }

    static func conf(_ params: [(key: String, value: String)]) -> RenewalConfig {
        RenewalConfig(version: "0.1.0", archiveDir: "/a", cert: "/c", privkey: "/p", chain: "/ch", fullchain: "/f",
                      renewalParams: params, webrootMap: [])
    }

    @Test("the RSA lineage's name; the default name ignores -0001 and *.")
    func names() {
        #expect(KeyPairing.rsaLineageName(for: "mail.example.com") == "mail.example.com-rsa")
        #expect(KeyPairing.defaultName(firstDomain: "*.example.com") == "example.com")
        #expect(KeyPairing.defaultName(firstDomain: "mail.example.com") == "mail.example.com")
    }

    @Test("acme_key_pair is written, read back, kept by certbot-style merges, and absent for a lineage on its own")
    func params() throws {
        var params = RenewalParams(account: "a1", server: "https://ca.example/dir", challenge: .standalone(address: nil, port: 80),
                                   keyType: .rsa(bits: 2048), pairedLineage: "mail.example.com")
        let back = try RenewalParamsTests.roundTrip(params)
        #expect(back.pairedLineage == "mail.example.com")
        #expect(params.encoded().params.contains { $0.key == "acme_key_pair" && $0.value == "mail.example.com" })
        let merged = params.merged(into: [("acme_key_pair", "old"), ("certbot_key", "kept")])
        #expect(merged.filter { $0.key == "acme_key_pair" }.map(\.value) == ["mail.example.com"])
        #expect(merged.contains { $0.key == "certbot_key" })
        params.pairedLineage = nil
        #expect(try RenewalParamsTests.roundTrip(params).pairedLineage == nil)
        #expect(!params.encoded().params.contains { $0.key == "acme_key_pair" })

        let conf = Self.conf([("key_type", "ecdsa"), ("acme_key_pair", "mail.example.com-rsa")])
        #expect(try KeyPairing.partner(in: conf, path: "/x.conf") == "mail.example.com-rsa")
        #expect(try KeyPairing.holdsECDSA(conf, path: "/x.conf"))
    }

    @Test("an acme_key_pair that is not a lineage name is an error naming the conf")
    func invalidPartner() throws {
        let conf = Self.conf([("acme_key_pair", "../../etc")])
        do {
            _ = try KeyPairing.partner(in: conf, path: "/le/renewal/x.conf")
            Issue.record("accepted ../../etc")
        } catch let error as IssuanceError {
            #expect(error.code == .invalidRenewalConf)
            #expect(error.message.contains("/le/renewal/x.conf") && error.message.contains("acme_key_pair"), "\(error.message)")
        }
    }
}
