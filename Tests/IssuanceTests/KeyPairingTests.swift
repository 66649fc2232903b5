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

    /// Adds `params` to the lineage's renewal conf.
    static func add(_ params: [(key: String, value: String)], to lineage: Lineage, _ fixture: ConfigFixture) throws {
        var config = try fixture.store.renewalConfig(of: lineage)
        config.renewalParams += params
        try FS.writeAtomically(lineage.renewalConfigPath, config.serialized(), mode: 0o644)
    }

    @Test("pairs(): lineages whose confs name each other, ECDSA member by key_type; a one-sided or dangling pairing is none")
    func pairsListing() throws {
        let fixture = try ConfigFixture("pairs")
        defer { fixture.remove() }
        let x = try fixture.lineage("mx", names: ["mx.example.test"])
        let xr = try fixture.lineage("mx-rsa", names: ["mx.example.test"], type: .rsa(bits: 2048))
        let y = try fixture.lineage("other", names: ["other.example.test"])
        try Self.add([("key_type", "ecdsa"), ("acme_key_pair", "mx-rsa")], to: x, fixture)
        try Self.add([("key_type", "rsa"), ("acme_key_pair", "mx")], to: xr, fixture)
        try Self.add([("key_type", "ecdsa"), ("acme_key_pair", "other-rsa")], to: y, fixture)  // partner deleted
        #expect(try KeyPairing.pairs(configDirectory: fixture.directory) == [KeyPairing.Pair(ecdsa: "mx", rsa: "mx-rsa")])
        // Recording is idempotent and keeps the rest of the conf.
        #expect(try KeyPairing.record(partner: "mx-rsa", in: x, store: fixture.store) == false)
        #expect(try KeyPairing.record(partner: "new-rsa", in: x, store: fixture.store) == true)
        let config = try fixture.store.renewalConfig(of: x)
        #expect(config.renewalParams.filter { $0.key == "acme_key_pair" }.map(\.value) == ["new-rsa"])
        #expect(config[param: "server"] == "https://ca.invalid/dir")
    }

    @Test("a lineage under the pair's ECDSA name that holds an RSA key is refused before the CA is contacted")
    func familyConflict() async throws {
        let fixture = try ConfigFixture("pair-conflict")
        defer { fixture.remove() }
        try fixture.lineage("mx", names: ["mx.example.test"], type: .rsa(bits: 2048))
        let ca = UnreachableCA()
        let workflow = IssueWorkflow(makeClient: { _ in ca.client }, progress: { _ in })
        let request = IssueRequest(names: ["mx.example.test"], server: "https://ca.invalid/dir", configDirectory: fixture.directory,
                                   certName: "mx", keyType: .ecdsa(.p256), toolVersion: "test")
        do {
            _ = try await workflow.runPair(request, rsaKeyType: .rsa(bits: 2048))
            Issue.record("an RSA lineage was taken as the ECDSA half")
        } catch let error as IssuanceError {
            #expect(error.code == .keyTypeConflict)
            #expect(error.message.contains("lineage mx holds an RSA key") && error.message.contains("--cert-name NEW"), "\(error.message)")
        }
        #expect(ca.requests.withLock { $0 } == 0)
    }
}
