import Base
import Foundation
import TestFixtures
import Testing
@testable import CertStore

func temporaryConfig() throws -> String {
    let path = NSTemporaryDirectory() + "acme-store-\(UUID().uuidString)"
    try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    return path
}

func mode(_ path: String) -> Int? {
    (try? FileManager.default.attributesOfItem(atPath: path))?[.posixPermissions] as? Int
}

func shell(_ command: String) throws -> (status: Int32, output: String) {
    let result = try runChild("/bin/sh", ["-c", command])
    return (result.status, result.output)
}

let sampleFiles = LineageFiles(cert: "CERT1\n", chain: "CHAIN1\n", fullchain: "CERT1\nCHAIN1\n", privkey: "KEY1\n")
let sampleParams: [(key: String, value: String)] = [("account", "abc"), ("authenticator", "standalone"), ("server", "https://ca.test/dir")]

@Suite("certbot layout")
struct LineageStoreTests {
    @Test("create writes archive files, relative live links, README and renewal conf with certbot's modes")
    func create() throws {
        let dir = try temporaryConfig()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let store = LineageStore(configDirectory: dir)
        let lineage = try store.create(name: "mail.example.test", files: sampleFiles, renewalParams: sampleParams, version: "0.1.0")
        for kind in ["cert", "chain", "fullchain", "privkey"] {
            let link = "\(dir)/live/mail.example.test/\(kind).pem"
            #expect(try FileManager.default.destinationOfSymbolicLink(atPath: link) == "../../archive/mail.example.test/\(kind)1.pem")
        }
        #expect(try String(contentsOfFile: lineage.fullchainPath, encoding: .utf8) == "CERT1\nCHAIN1\n")
        #expect(mode("\(dir)/archive/mail.example.test/privkey1.pem") == 0o600)
        #expect(mode("\(dir)/archive/mail.example.test/cert1.pem") == 0o644)
        #expect(mode("\(dir)/archive") == 0o700)
        #expect(mode("\(dir)/live") == 0o700)
        #expect(FileManager.default.fileExists(atPath: "\(dir)/live/mail.example.test/README"))
        #expect(FileManager.default.fileExists(atPath: "\(dir)/live/README"))
        let config = try store.renewalConfig(of: lineage)
        #expect(config.version == "0.1.0")
        #expect(config.archiveDir == "\(dir)/archive/mail.example.test")
        #expect(config.cert == "\(dir)/live/mail.example.test/cert.pem")
        #expect(config[param: "authenticator"] == "standalone")
        #expect(try store.currentVersion(of: lineage) == 1)
        #expect(try store.allLineages().map(\.name) == ["mail.example.test"])
        // No temporary files left behind.
        #expect(try FileManager.default.contentsOfDirectory(atPath: "\(dir)/archive/mail.example.test").sorted()
                == ["cert1.pem", "chain1.pem", "fullchain1.pem", "privkey1.pem"])
        #expect((#expect(throws: CertStoreError.self) { try store.create(name: "mail.example.test", files: sampleFiles, renewalParams: sampleParams, version: "0.1.0") })?.code == .exists)
    }

    @Test("a new version is archived next to the old one and the links move to it")
    func addVersion() throws {
        let dir = try temporaryConfig()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let store = LineageStore(configDirectory: dir)
        let lineage = try store.create(name: "a.example.test", files: sampleFiles, renewalParams: sampleParams, version: "0.1.0")
        let second = LineageFiles(cert: "CERT2\n", chain: "CHAIN2\n", fullchain: "CERT2\nCHAIN2\n", privkey: "KEY2\n")
        try store.addVersion(to: lineage, files: second, renewalParams: nil, version: "0.2.0")
        #expect(try store.currentVersion(of: lineage) == 2)
        #expect(try store.readLive(lineage) == second)
        #expect(FileManager.default.fileExists(atPath: "\(dir)/archive/a.example.test/cert1.pem"))
        let config = try store.renewalConfig(of: lineage)
        #expect(config.version == "0.2.0")
        #expect(config[param: "account"] == "abc")
    }

    @Test("names: --cert-name, wildcard stripped, -0001 on a clash, bad names refused")
    func names() throws {
        let dir = try temporaryConfig()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let store = LineageStore(configDirectory: dir)
        #expect(try store.chooseName(preferred: nil, firstDomain: "*.example.test") == "example.test")
        _ = try store.create(name: "example.test", files: sampleFiles, renewalParams: sampleParams, version: "0.1.0")
        #expect(try store.chooseName(preferred: nil, firstDomain: "example.test") == "example.test-0001")
        _ = try store.create(name: "example.test-0001", files: sampleFiles, renewalParams: sampleParams, version: "0.1.0")
        #expect(try store.chooseName(preferred: nil, firstDomain: "example.test") == "example.test-0002")
        #expect(try store.chooseName(preferred: "mx", firstDomain: "example.test") == "mx")
        for bad in ["..", "a/b", ".hidden", "", "x\u{0}y"] {
            #expect((#expect(throws: BaseError.self) { try store.chooseName(preferred: bad, firstDomain: "example.test") })?.code == .invalidName)
            #expect((#expect(throws: BaseError.self) { try store.lineage(named: bad) })?.code == .invalidName)
        }
    }

    @Test("renewal conf as certbot writes it, with a webroot_map, parses and round-trips")
    func certbotConf() throws {
        let text = """
        # renew_before_expiry = 30 days
        version = 2.1.0
        archive_dir = /etc/letsencrypt/archive/example.com
        cert = /etc/letsencrypt/live/example.com/cert.pem
        privkey = /etc/letsencrypt/live/example.com/privkey.pem
        chain = /etc/letsencrypt/live/example.com/chain.pem
        fullchain = /etc/letsencrypt/live/example.com/fullchain.pem
        renew_before_expiry = 20 days

        # Options used in the renewal process
        [renewalparams]
        account = 0123456789abcdef0123456789abcdef
        authenticator = webroot
        webroot_path = /var/www/html,
        server = https://acme-v02.api.letsencrypt.org/directory
        key_type = ecdsa
        deploy_hook = "systemctl reload postfix # and more"
        [[webroot_map]]
        example.com = /var/www/html
        mail.example.com = /var/www/mail

        """
        let config = try RenewalConfig.parse(text)
        #expect(config.version == "2.1.0")
        #expect(config.topLevelValue("renew_before_expiry") == "20 days")
        #expect(config[param: "webroot_path"] == "/var/www/html,")
        #expect(config[param: "deploy_hook"] == "systemctl reload postfix # and more")
        #expect(config.webrootMap.map(\.path) == ["/var/www/html", "/var/www/mail"])
        let again = try RenewalConfig.parse(config.serialized())
        #expect(again.serialized() == config.serialized())
        #expect(again[param: "deploy_hook"] == "systemctl reload postfix # and more")
        #expect((#expect(throws: CertStoreError.self) { try RenewalConfig.parse("version = 1\n") })?.code == .malformedConfig)
    }
}

@Suite("accounts")
struct AccountStoreTests {
    @Test("server directories follow certbot's netloc/path rule")
    func serverDirectory() {
        let store = AccountStore(configDirectory: "/etc/letsencrypt")
        #expect(store.serverDirectory(for: "https://acme-v02.api.letsencrypt.org/directory") == "/etc/letsencrypt/accounts/acme-v02.api.letsencrypt.org/directory")
        #expect(store.serverDirectory(for: "https://localhost:14000/dir") == "/etc/letsencrypt/accounts/localhost:14000/dir")
        #expect(store.serverDirectory(for: "https://ca.test/../../etc") == "/etc/letsencrypt/accounts/ca.test/etc")
    }

    @Test("save, list and delete with certbot's files and modes")
    func roundTrip() throws {
        let dir = try temporaryConfig()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let store = AccountStore(configDirectory: dir)
        let created = Date(timeIntervalSince1970: 1_790_000_000)
        let account = StoredAccount(id: "0123456789abcdef0123456789abcdef", privateKeyJWK: ["kty": "EC", "crv": "P-256", "x": "X", "y": "Y", "d": "D"],
                                    uri: "https://ca.test/acct/1", creationDate: created, creationHost: "mx1")
        try store.save(account, server: "https://ca.test/dir")
        let path = store.serverDirectory(for: "https://ca.test/dir") + "/" + account.id
        #expect(mode(path + "/private_key.json") == 0o400)
        #expect(mode(dir + "/accounts") == 0o700)
        #expect(mode(path) == 0o700)
        let regr = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: path + "/regr.json"))) as? [String: Any]
        #expect(regr?["uri"] as? String == "https://ca.test/acct/1")
        let meta = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: path + "/meta.json"))) as? [String: Any]
        #expect((meta?["creation_dt"] as? String)?.hasSuffix("Z") == true)
        #expect(try store.accounts(server: "https://ca.test/dir") == [account])
        #expect(try store.accounts(server: "https://other.test/dir").isEmpty)
        try store.delete(id: account.id, server: "https://ca.test/dir")
        #expect(try store.accounts(server: "https://ca.test/dir").isEmpty)
        #expect((#expect(throws: BaseError.self) { try store.save(StoredAccount(id: "../x", privateKeyJWK: [:], uri: "", creationDate: created, creationHost: ""), server: "https://ca.test/dir") })?.code == .invalidName)
    }
}

@Suite("interoperability with Debian's certbot", .integration)
struct CertbotReadsOurLineage {
    @Test("certbot certificates lists a lineage written by CertStore as VALID")
    func certbotLists() throws {
        let dir = try temporaryConfig()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let made = try shell("""
            cd \(dir) && openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout k.pem -out c.pem \
            -days 90 -subj /CN=a.example.test -addext subjectAltName=DNS:a.example.test,DNS:b.example.test 2>&1
            """)
        try #require(made.status == 0, "\(made.output)")
        let cert = try String(contentsOfFile: dir + "/c.pem", encoding: .utf8)
        let key = try String(contentsOfFile: dir + "/k.pem", encoding: .utf8)
        let store = LineageStore(configDirectory: dir + "/le")
        _ = try store.create(name: "a.example.test", files: LineageFiles(cert: cert, chain: cert, fullchain: cert + cert, privkey: key),
                             renewalParams: [("authenticator", "standalone"), ("server", "https://localhost:14000/dir"), ("key_type", "ecdsa")],
                             version: "0.1.0")
        let result = try shell("certbot certificates --config-dir \(dir)/le --work-dir \(dir)/work --logs-dir \(dir)/logs 2>&1")
        #expect(result.status == 0, "\(result.output)")
        #expect(result.output.contains("Certificate Name: a.example.test"), "\(result.output)")
        #expect(result.output.contains("Domains: a.example.test b.example.test"), "\(result.output)")
        #expect(result.output.contains("VALID"), "\(result.output)")
        #expect(!result.output.contains("INVALID"), "\(result.output)")
    }
}
